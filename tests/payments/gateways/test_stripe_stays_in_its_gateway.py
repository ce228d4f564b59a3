"""Stripe's wire format (statuses, event types, headers, fields) is read only in its gateway."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GATEWAY = ROOT / "payments" / "gateways" / "stripe"
# The service's own code; the fake Stripe server is Stripe's format by design.
PACKAGES = ("config", "outbox", "payments", "notifications", "monitoring")

STRIPE_FORMAT = re.compile(
    "|".join(
        [
            r"\bimport stripe\b",
            r"\bfrom stripe\b",
            # PaymentIntent statuses that exist only at Stripe.
            r"requires_payment_method|requires_confirmation|requires_capture",
            # Event types.
            r"payment_intent\.\w+|refund\.(created|updated|failed)|charge\.refunded",
            # Headers and event or object fields.
            r"Stripe-Signature|STRIPE_SIGNATURE|last_payment_error|decline_code",
            r"\[\"data\"\]\[\"object\"\]|pending_webhooks|livemode",
        ]
    )
)


def service_modules() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if GATEWAY not in path.parents and "migrations" not in path.parts
    )


def test_the_scan_covers_the_service():
    scanned = {path.relative_to(ROOT).as_posix() for path in service_modules()}
    assert {"payments/services/charges.py", "payments/api.py", "monitoring/exporter.py"} <= scanned
    assert not any(name.startswith("payments/gateways/stripe/") for name in scanned)


@pytest.mark.parametrize("path", service_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_stripe_format_outside_the_gateway(path):
    found = [
        f"{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if STRIPE_FORMAT.search(line)
    ]
    assert found == []


def test_the_pattern_finds_what_it_is_meant_to_find():
    leaks = [
        'if intent.status == "requires_payment_method":',
        'request.headers.get("Stripe-Signature")',
        'event["data"]["object"]["id"]',
        'if event_type == "payment_intent.succeeded":',
        "import stripe",
    ]
    assert all(STRIPE_FORMAT.search(leak) for leak in leaks)
