"""A real stack for integration tests: gunicorn, two workers, beat, fake Stripe, own Redis."""

import email
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connection

from payments import services
from payments.models import Payment
from tests import processes

FINAL_STATUSES = {"succeeded", "failed", "requires_action", "canceled"}


@dataclass
class Stack:
    web_url: str
    stripe_url: str
    directory: Path
    workers: list[Any]

    @property
    def mail_dir(self) -> Path:
        return self.directory / "mail"

    def spans(self) -> list[dict[str, Any]]:
        found = []
        for path in self.directory.glob("spans-*.jsonl"):
            found += [json.loads(line) for line in path.read_text().splitlines() if line]
        return found

    def emails(self) -> list[email.message.Message]:
        messages = []
        for path in sorted(self.mail_dir.glob("*.log")):
            # The file backend appends each message followed by a line of 79 dashes.
            for chunk in path.read_text().split("-" * 79):
                if chunk.strip():
                    messages.append(email.message_from_string(chunk.strip()))
        return messages

    def ledger(self) -> dict[str, Any]:
        response = requests.get(f"{self.stripe_url}/_fake/ledger", timeout=5)
        response.raise_for_status()
        return response.json()

    def set_faults(self, **faults: Any) -> None:
        requests.post(f"{self.stripe_url}/_fake/faults", json=faults, timeout=5).raise_for_status()

    def charges_for(self, payment_id: str) -> list[dict[str, Any]]:
        return [
            charge
            for charge in self.ledger()["charges"]
            if charge["metadata"].get("payment_id") == payment_id
        ]


def _wait_until_ready(worker_logs: list[Path], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(log.exists() and "ready." in log.read_text() for log in worker_logs):
            return
        time.sleep(0.2)
    raise TimeoutError(f"workers not ready after {timeout} s: see {worker_logs}")


@pytest.fixture(scope="session")
def stack(
    private_broker: str, django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("stack")
    (directory / "mail").mkdir()
    database = connection.settings_dict
    with processes.fakestripe(directory, profile="zero") as stripe_url:
        env = {
            # The workers and the web process use the test database this session made.
            "DATABASE_URL": (
                f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
                f"/{database['NAME']}"
            ),
            "CELERY_BROKER_URL": private_broker,
            "STRIPE_API_BASE": stripe_url,
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(directory / "mail"),
            "OTEL_SPANS_FILE": str(directory / "spans-worker.jsonl"),
        }
        workers = [processes.celery_worker(name, env, directory) for name in ("worker1", "worker2")]
        # The beat publishes retries and rate-limit deferrals when due (config/retries.py).
        beat = processes.celery_beat("beat", env, directory)
        web_env = {**env, "OTEL_SPANS_FILE": str(directory / "spans-web.jsonl")}
        try:
            with processes.gunicorn(web_env, directory) as web_url:
                _wait_until_ready([directory / "worker1.log", directory / "worker2.log"])
                yield Stack(web_url, stripe_url, directory, workers)
        finally:
            for process in [*workers, beat]:
                processes.stop(process)


@pytest.fixture
def merchant_session(stack: Stack, transactional_db: None) -> requests.Session:
    """A keep-alive HTTP session authenticated as a new API client."""
    _, raw_key = services.create_api_client(name="integration-merchant")
    return api_session(raw_key)


def post_payment(
    web_url: str, session: requests.Session, *, key: str | None = None, **fields: Any
) -> requests.Response:
    """POST /api/v1/payments as a client would; `fields` override a working card payment."""
    body = {
        "amount": 1_250,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "customer_email": "buyer@example.com",
        "description": "integration",
        **fields,
    }
    return session.post(
        f"{web_url}/api/v1/payments",
        json=body,
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
        timeout=15,
    )


def api_session(api_key: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_key}"
    return session


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")


def wait_for_final_status(payment_id: str, timeout: float = 30.0) -> Payment:
    def final() -> Payment | None:
        payment = Payment.objects.get(pk=payment_id)
        return payment if payment.status in FINAL_STATUSES else None

    return wait_for(final, timeout)
