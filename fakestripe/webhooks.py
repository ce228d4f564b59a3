"""Signed webhook delivery with retries, on background threads: https://docs.stripe.com/webhooks."""

import hashlib
import heapq
import hmac
import http.client
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from .errors import JsonObject

logger = logging.getLogger(__name__)

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


@dataclass
class WebhookEndpoint:
    id: str
    url: str
    secret: str
    enabled_events: list[str] = field(default_factory=lambda: ["*"])
    # Endpoints from --webhook-url are rebuilt at every start rather than journaled.
    from_command_line: bool = False

    def wants(self, event_type: str) -> bool:
        return any(
            pattern == "*"
            or pattern == event_type
            or (pattern.endswith(".*") and event_type.startswith(pattern[:-1]))
            for pattern in self.enabled_events
        )

    def to_json(self) -> JsonObject:
        return asdict(self)


@dataclass
class RetrySettings:
    """Stripe retries for up to three days; tests shrink the schedule to milliseconds."""

    base_seconds: float = 1.0
    factor: float = 2.0
    max_delay_seconds: float = 3600.0
    max_attempts: int = 8
    timeout_seconds: float = 10.0

    def delay(self, failed_attempts: int) -> float:
        return float(
            min(self.base_seconds * self.factor ** (failed_attempts - 1), self.max_delay_seconds)
        )


def signature_header(payload: str, secret: str, timestamp: int) -> str:
    """`t=...,v1=...`: https://docs.stripe.com/webhooks#verify-manually."""
    signed = f"{timestamp}.{payload}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    event_id: str = field(compare=False)
    event_type: str = field(compare=False)
    payload: str = field(compare=False)
    endpoint: WebhookEndpoint = field(compare=False)
    attempt: int = field(default=1, compare=False)
    generation: int = field(default=0, compare=False)


FinishedCallback = Callable[[str, str, bool], None]


class WebhookDispatcher:
    """Delivers each (event, endpoint) until a 2xx or `max_attempts`, off the request path."""

    def __init__(
        self, settings: RetrySettings, on_finished: FinishedCallback, workers: int = 4
    ) -> None:
        self.settings = settings
        self._on_finished = on_finished
        self._queue: list[_Delivery] = []
        self._condition = threading.Condition()
        self._seq = itertools.count()
        self._generation = 0
        self._in_progress = 0
        self._stopping = False
        self.attempts: deque[JsonObject] = deque(maxlen=10_000)
        self._threads = [
            threading.Thread(target=self._work, name=f"fakestripe-webhooks-{n}", daemon=True)
            for n in range(workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        # Daemon threads: one stuck on a slow endpoint must not hold up shutdown for long.
        deadline = time.monotonic() + 2.0
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def enqueue(
        self, event_id: str, event_type: str, payload: str, endpoint: WebhookEndpoint
    ) -> None:
        with self._condition:
            delivery = _Delivery(
                time.monotonic(),
                next(self._seq),
                event_id,
                event_type,
                payload,
                endpoint,
                generation=self._generation,
            )
            heapq.heappush(self._queue, delivery)
            self._condition.notify()

    def pending(self) -> int:
        with self._condition:
            return len(self._queue) + self._in_progress

    def clear(self) -> None:
        """Drop queued deliveries (a reset); ones in flight finish but are not retried."""
        with self._condition:
            self._queue.clear()
            self._generation += 1
            self.attempts.clear()

    def _work(self) -> None:
        while True:
            with self._condition:
                delivery = self._next_due()
                if delivery is None:
                    return
                self._in_progress += 1
            try:
                self._deliver(delivery)
            finally:
                with self._condition:
                    self._in_progress -= 1

    def _next_due(self) -> _Delivery | None:
        while not self._stopping:
            if self._queue:
                wait = self._queue[0].due - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(self._queue)
                self._condition.wait(wait)
            else:
                self._condition.wait()
        return None

    def _deliver(self, delivery: _Delivery) -> None:
        status, error = _post(delivery, self.settings.timeout_seconds)
        succeeded = status is not None and 200 <= status < 300
        with self._condition:
            if delivery.generation != self._generation:
                return
            self.attempts.append(
                {
                    "event": delivery.event_id,
                    "type": delivery.event_type,
                    "endpoint": delivery.endpoint.id,
                    "url": delivery.endpoint.url,
                    "attempt": delivery.attempt,
                    "status": status,
                    "error": error,
                    "succeeded": succeeded,
                    "at": time.time(),
                }
            )
            retry = not succeeded and delivery.attempt < self.settings.max_attempts
            if retry:
                delivery.due = time.monotonic() + self.settings.delay(delivery.attempt)
                delivery.attempt += 1
                delivery.seq = next(self._seq)
                heapq.heappush(self._queue, delivery)
                self._condition.notify()
        if not retry:
            self._on_finished(delivery.event_id, delivery.endpoint.id, succeeded)


def _post(delivery: _Delivery, timeout: float) -> tuple[int | None, str | None]:
    url = urlsplit(delivery.endpoint.url)
    connection_class = (
        http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    )
    body = delivery.payload.encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "Stripe-Signature": signature_header(
            delivery.payload, delivery.endpoint.secret, int(time.time())
        ),
    }
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    connection = connection_class(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, None
    except (OSError, http.client.HTTPException) as error:
        logger.info("webhook %s to %s failed: %r", delivery.event_id, url.geturl(), error)
        return None, repr(error)
    finally:
        connection.close()
