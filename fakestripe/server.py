"""The asyncio HTTP/1.1 server: keep-alive connections, requests answered in order, on loopback."""

import asyncio
import functools
import gc
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from .app import FakeStripe
from .config import ServerConfig
from .httpwire import (
    HttpParseError,
    Request,
    Response,
    parse_request,
    render_error,
    render_response,
    wants_continue,
)

logger = logging.getLogger(__name__)

# Stored objects live as long as the server: moving them out of the cyclic GC's sight keeps
# full collections (O(heap)) from doubling the cost of a request at 100k PaymentIntents.
GC_FREEZE_INTERVAL_SECONDS = 1.0


class HttpConnection(asyncio.Protocol):
    """One client connection.

    Most requests are answered synchronously inside `data_received` (no task, no extra
    loop iteration): that keeps the fake fast. Only a request with injected latency
    becomes a task, and the connection waits for it before reading the next request,
    because HTTP/1.1 answers in order.
    """

    def __init__(self, app: FakeStripe, verbose: bool) -> None:
        self._app = app
        self._verbose = verbose
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._busy = False
        self._continue_sent = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        # A request still executing finishes anyway (Stripe does too); its answer is lost.
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._process()

    def _process(self) -> None:
        while not self._busy and self._transport is not None:
            try:
                parsed = parse_request(self._buffer)
            except HttpParseError as error:
                self._transport.write(render_error(error.status, str(error)))
                self._transport.close()
                return
            if parsed is None:
                self._maybe_continue()
                return
            request, consumed = parsed
            del self._buffer[:consumed]
            self._continue_sent = False
            try:
                outcome = self._app.handle(request)
            except Exception:
                logger.exception("unhandled error for %s %s", request.method, request.path)
                outcome = Response(500, b'{"error":{"type":"api_error","message":"fake crashed"}}')
            if isinstance(outcome, Response):
                self._send(request, outcome)
            else:
                self._busy = True
                task = asyncio.ensure_future(outcome)
                task.add_done_callback(functools.partial(self._finish, request))

    def _finish(self, request: Request, task: "asyncio.Future[Response]") -> None:
        self._busy = False
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            logger.error("unhandled error for %s %s: %r", request.method, request.path, error)
            response = Response(500, b'{"error":{"type":"api_error","message":"fake crashed"}}')
        else:
            response = task.result()
        self._send(request, response)
        self._process()

    def _send(self, request: Request, response: Response) -> None:
        if self._verbose:
            print(f"{request.method} {request.path} -> {response.status}", file=sys.stderr)
        transport = self._transport
        if transport is None:
            return
        if response.drop:
            transport.abort()  # executed, but the client never hears back
            self._transport = None
            return
        transport.write(render_response(response, request.keep_alive))
        if not request.keep_alive:
            transport.close()
            self._transport = None

    def _maybe_continue(self) -> None:
        if not self._continue_sent and self._transport and wants_continue(self._buffer):
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._continue_sent = True


async def serve(
    config: ServerConfig,
    ready: "asyncio.Future[int] | None" = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set; `ready` receives the bound port."""
    app = FakeStripe(config)
    if config.webhook_urls and config.webhook_secret is None:
        print(f"fakestripe webhook signing secret: {app.webhook_secret}", file=sys.stderr)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: HttpConnection(app, config.verbose), config.host, config.port, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    stop = stop or asyncio.Event()
    _freeze_long_lived_objects(loop)
    if ready is not None:
        ready.set_result(port)
    try:
        await stop.wait()
    finally:
        server.close()
        app.close()


def _freeze_long_lived_objects(loop: asyncio.AbstractEventLoop) -> None:
    gc.freeze()
    loop.call_later(GC_FREEZE_INTERVAL_SECONDS, _freeze_long_lived_objects, loop)


def run(config: ServerConfig) -> None:
    """Run in the foreground until SIGINT/SIGTERM, printing `fakestripe listening on URL`."""
    logging.basicConfig(level=logging.INFO if config.verbose else logging.WARNING)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        ready: asyncio.Future[int] = loop.create_future()
        serving = asyncio.ensure_future(serve(config, ready, stop))
        first_done: list[asyncio.Future[Any]] = [ready, serving]
        await asyncio.wait(first_done, return_when=asyncio.FIRST_COMPLETED)
        if ready.done():
            print(f"fakestripe listening on http://{config.host}:{ready.result()}", flush=True)
        await serving

    asyncio.run(main())


@dataclass
class BackgroundServer:
    """A fake running on a thread of this process (for tests that want no subprocess)."""

    url: str
    _loop: asyncio.AbstractEventLoop
    _stop: asyncio.Event
    _thread: threading.Thread

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)


def serve_in_background(config: ServerConfig) -> BackgroundServer:
    loop = asyncio.new_event_loop()
    started: dict[str, object] = {}
    ready_event = threading.Event()

    async def main() -> None:
        stop = asyncio.Event()
        ready: asyncio.Future[int] = loop.create_future()
        started["stop"] = stop
        started["ready"] = ready
        serving = asyncio.ensure_future(serve(config, ready, stop))
        ready.add_done_callback(lambda _: ready_event.set())
        await serving

    def runner() -> None:
        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=runner, name="fakestripe", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not ready_event.wait(0.05):
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("fakestripe did not start")
    ready = started["ready"]
    stop = started["stop"]
    assert isinstance(ready, asyncio.Future) and isinstance(stop, asyncio.Event)
    return BackgroundServer(f"http://{config.host}:{ready.result()}", loop, stop, thread)
