"""The fake Stripe server as a real subprocess (`manage.py fakestripe --port 0`), and helpers."""

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe

PROJECT_ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk_test_fakestripe_suite"
WEBHOOK_SECRET = "whsec_test_suite_secret"


@dataclass
class FakeStripeProcess:
    url: str
    process: subprocess.Popen[str]

    def kill_hard(self) -> None:
        """kill -9: no chance to flush or say goodbye."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill_hard()


@contextmanager
def running_fakestripe(*args: str) -> Iterator[FakeStripeProcess]:
    """`python manage.py fakestripe --port 0 ARGS`, its URL read from the listening line."""
    process = subprocess.Popen(
        # The suite tests behaviour, not pace: instant unless a test asks for --profile live.
        [sys.executable, "manage.py", "fakestripe", "--port", "0", "--profile", "zero", *args],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    fake = FakeStripeProcess(line.removeprefix("fakestripe listening on "), process)
    try:
        assert line.startswith("fakestripe listening on http://127.0.0.1:"), line
        yield fake
    finally:
        fake.stop()


@dataclass
class Fake:
    """A running fake plus the calls tests make to it."""

    url: str

    def client(self, api_key: str = API_KEY) -> stripe.StripeClient:
        # No retries in the library: the tests want to see every fault it would hide.
        return stripe.StripeClient(api_key, base_addresses={"api": self.url}, max_network_retries=0)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = requests.request(method, f"{self.url}/_fake/{path}", json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        return self.control("POST", "faults", faults)

    def ledger(self, **filters: str) -> dict[str, Any]:
        query = "&".join(f"{key}={value}" for key, value in filters.items())
        return self.control("GET", f"ledger?{query}")

    def post(self, path: str, data: Any = None, **headers: str) -> requests.Response:
        """A raw form POST, for what the library would not send."""
        return requests.post(
            f"{self.url}{path}",
            data=data,
            headers={"Authorization": f"Bearer {API_KEY}", **headers},
            timeout=10,
        )


@pytest.fixture(scope="session", autouse=True)
def private_broker() -> None:
    """Overrides the project-wide broker fixture: the fake publishes no Celery messages."""
    return None


@pytest.fixture(scope="session")
def fakestripe_server() -> Iterator[FakeStripeProcess]:
    with running_fakestripe(
        "--webhook-secret", WEBHOOK_SECRET, "--webhook-retry-base", "0.05"
    ) as server:
        yield server


@pytest.fixture
def fake(fakestripe_server: FakeStripeProcess) -> Fake:
    """The shared fake, reset to a fresh start for this test."""
    fake = Fake(fakestripe_server.url)
    fake.control("POST", "reset")
    return fake


@pytest.fixture
def stripe_client(fake: Fake) -> stripe.StripeClient:
    return fake.client()


@dataclass
class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 recording what it is sent."""

    url: str
    received: list[tuple[dict[str, str], str]] = field(default_factory=list)
    # Answer this many deliveries with 500 before accepting.
    failures_left: int = 0
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[dict[str, str], str]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def events(self, count: int) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.wait_for(count)]


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            with receiver.arrived:
                failing = receiver.failures_left > 0
                if failing:
                    receiver.failures_left -= 1
                else:
                    receiver.received.append((dict(self.headers.items()), body))
                    receiver.arrived.notify_all()
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
