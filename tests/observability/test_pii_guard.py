"""I6: after real payments, no e-mail, card number, API key or secret anywhere we emit data."""

import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from django.forms.models import model_to_dict
from django_celery_results.models import TaskResult

from config.celery import app as celery_app
from notifications.models import Notification, NotificationStatus
from outbox.models import OutboxMessage
from tests.integration.conftest import wait_for, wait_for_final_status
from tests.observability.conftest import (
    STRIPE_API_KEY,
    STRIPE_WEBHOOK_SECRET,
    WORKER_NAME,
    ObservedStack,
    pay,
)

pytestmark = pytest.mark.integration

CUSTOMER_EMAIL = "pii.guard+buyer@example.com"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}")
# 13-19 digits, optionally grouped, starting like a card network's number (2-6), standing alone:
# not a piece of a UUID, a hex id or a longer number.
CARD_NUMBER = re.compile(r"(?<![\w.-])[2-6](?:[ -]?\d){12,18}(?![\w-])")
# Node names look like e-mail addresses: "observed@host.example" is allowed, nothing else.
ALLOWED_AT_SIGNS = {f"{WORKER_NAME}@{socket.gethostname()}"}


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in re.sub(r"\D", "", number)][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def leaks_in(text: str, secrets: list[str]) -> list[str]:
    found = [secret for secret in secrets if secret in text]
    found += [
        email
        for email in EMAIL.findall(text)
        if email not in ALLOWED_AT_SIGNS and not email.startswith("gen")
    ]
    found += [run for run in CARD_NUMBER.findall(text) if luhn_valid(run)]
    return found


# --- the flow: each scenario drives one kind of real traffic through the stack --------------
# Refunds and webhooks add a function here when they land.


def scenario_success(stack: ObservedStack, api_key: str) -> list[str]:
    return [pay(stack, api_key, customer_email=CUSTOMER_EMAIL).json()["id"]]


def scenario_decline(stack: ObservedStack, api_key: str) -> list[str]:
    return [
        pay(
            stack, api_key, customer_email=CUSTOMER_EMAIL, payment_method="pm_card_chargeDeclined"
        ).json()["id"]
    ]


SCENARIOS: list[Callable[[ObservedStack, str], list[str]]] = [scenario_success, scenario_decline]


# --- what gets captured ----------------------------------------------------------------------


@dataclass
class Captured:
    events: list[dict[str, Any]]


@contextmanager
def celery_events(broker_url: str) -> Iterator[Captured]:
    """Every Celery event on the broker while the block runs."""
    captured = Captured([])
    stop = threading.Event()

    def capture() -> None:
        with celery_app.connection_for_read(broker_url) as connection:
            receiver = celery_app.events.Receiver(
                connection, handlers={"*": captured.events.append}
            )
            receiver.should_stop = False
            for _ in receiver.itercapture(limit=None, timeout=None, wakeup=False):
                if stop.is_set():
                    return

    thread = threading.Thread(target=capture, daemon=True)
    thread.start()
    try:
        yield captured
    finally:
        stop.set()
        thread.join(timeout=10)


def test_no_pii_or_secret_in_spans_logs_events_args_results_or_metrics(observed_stack, api_key):
    stack = observed_stack
    with celery_events(stack.broker_url) as captured:
        payment_ids = [pid for scenario in SCENARIOS for pid in scenario(stack, api_key)]
        for payment_id in payment_ids:
            wait_for_final_status(payment_id)
        subjects = [f"payment:{pid}" for pid in payment_ids]
        wait_for(
            lambda: (
                Notification.objects.filter(
                    subject__in=subjects, status=NotificationStatus.SENT
                ).count()
                == len(payment_ids)
            )
        )
        # The task-succeeded events of the e-mails must be captured too.
        wait_for(
            lambda: (
                sum(e["type"] == "task-succeeded" for e in captured.events) >= 2 * len(payment_ids)
            )
        )

    secrets = [CUSTOMER_EMAIL, api_key, STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET]
    sources: dict[str, str] = {
        "spans": "\n".join(json.dumps(span) for span in stack.spans()),
        "celery events": "\n".join(json.dumps(event, default=str) for event in captured.events),
        "task arguments": json.dumps(list(OutboxMessage.objects.values_list("args", flat=True))),
        "task results": json.dumps(
            [model_to_dict(row) for row in TaskResult.objects.all()], default=str
        ),
    }
    for path in stack.log_files():
        sources[f"log {path.name}"] = path.read_text()
    for name, url in {
        "web": f"{stack.web_url}/metrics",
        "worker": stack.worker_metrics_url,
        "monitor": stack.monitor_url,
    }.items():
        sources[f"metrics {name}"] = requests.get(url, timeout=10).text

    # The guard only means something if it looked at real data.
    assert len(payment_ids) == len(SCENARIOS)
    assert any(e["type"] == "task-received" for e in captured.events)
    assert all(sources[name] for name in ("spans", "task results", "log fakestripe.log"))
    assert leaks_in(f"card 4242 4242 4242 4242 for {CUSTOMER_EMAIL}", secrets)  # self-test
    leaks = {name: found for name, text in sources.items() if (found := leaks_in(text, secrets))}
    assert leaks == {}
