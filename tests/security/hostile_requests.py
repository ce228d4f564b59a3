"""The hand-made requests of issue 13's probe, as data: each one was a 5xx before.

Used by the test that proves each is now a 4xx problem, and by `python -m
tests.security.probe URL` which sends them to a running server and prints the table.
"""

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.payments import stripe_events

WEBHOOK_PATH = "/api/v1/webhooks/stripe"
PAYMENTS_PATH = "/api/v1/payments"
DEEP_JSON = "[" * 1000 + "]" * 1000


@dataclass(frozen=True)
class HostileRequest:
    name: str
    method: str
    path: str
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    authenticated: bool = True
    # Signed with the webhook secret at send time (the timestamp must be fresh).
    signed: bool = False
    # What the body is relative to: the path of a payment of the caller's, for refunds.
    needs_payment: bool = False
    expected_status: int = 400


def _cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


def _payment(**fields: Any) -> str:
    return json.dumps(
        {"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa", **fields}
    )


def _event(make: Callable[[], dict[str, Any]]) -> str:
    return json.dumps(make())


def _intent(**fields: Any) -> dict[str, Any]:
    return {**stripe_events.intent("pi_probe", "succeeded"), **fields}


def _webhook(name: str, event: dict[str, Any]) -> HostileRequest:
    return HostileRequest(
        name, "POST", WEBHOOK_PATH, json.dumps(event), authenticated=False, signed=True
    )


def _succeeded(obj: dict[str, Any], **event_fields: Any) -> dict[str, Any]:
    return {**stripe_events.event("payment_intent.succeeded", obj), **event_fields}


REQUESTS: list[HostileRequest] = [
    # RecursionError escaped DRF's parser and the webhook's json.loads.
    HostileRequest("payment body nested 1,000 deep", "POST", PAYMENTS_PATH, DEEP_JSON),
    HostileRequest("refund body nested 1,000 deep", "POST", "", DEEP_JSON, needs_payment=True),
    HostileRequest(
        "signed webhook nested 1,000 deep",
        "POST",
        WEBHOOK_PATH,
        DEEP_JSON,
        authenticated=False,
        signed=True,
    ),
    # A cursor position that is not a date reached the query.
    HostileRequest("forged cursor (p=notadate)", "GET", f"{PAYMENTS_PATH}?cursor={_cursor('p=x')}"),
    HostileRequest("garbled cursor (p=NUL)", "GET", PAYMENTS_PATH + "?cursor=" + _cursor("p=\x00")),
    HostileRequest(
        "Stripe-Signature t=² (no secret)",
        "POST",
        WEBHOOK_PATH,
        "{}",
        headers={"Stripe-Signature": "t=²,v1=00"},
        authenticated=False,
    ),
    HostileRequest(
        "OPTIONS /api/docs/", "OPTIONS", "/api/docs/", authenticated=False, expected_status=405
    ),
    # The database refused these and the client was told 503, retry later.
    HostileRequest(
        "NUL in a metadata key", "POST", PAYMENTS_PATH, _payment(metadata={"a\x00": "b"})
    ),
    HostileRequest(
        "lone surrogate in a metadata key",
        "POST",
        PAYMENTS_PATH,
        _payment(metadata={"a\ud800": "b"}),
    ),
    HostileRequest(
        "300-character e-mail local part",
        "POST",
        PAYMENTS_PATH,
        _payment(customer_email="a" * 300 + "@example.com"),
    ),
    _webhook(
        "webhook event type of 300 characters", stripe_events.event("x" * 300, {"id": "pi_1"})
    ),
    _webhook(
        "webhook event id of 300 characters",
        stripe_events.event("payment_intent.succeeded", _intent(), event_id="evt_" + "x" * 300),
    ),
    _webhook("webhook event type with NUL", stripe_events.event("a\x00.b", {"id": "pi_1"})),
    _webhook("NUL inside a webhook object", _succeeded(_intent(description="a\x00"))),
    _webhook("lone surrogate inside a webhook object", _succeeded(_intent(description="\ud800"))),
    _webhook("webhook created = 10^30", _succeeded(_intent(), created=10**30)),
    # A field of the wrong type raised while the event was read in the request.
    _webhook("webhook amount as text", _succeeded(_intent(amount="abc"))),
    _webhook("webhook metadata as a list", _succeeded(_intent(metadata=["a"]))),
    _webhook("webhook metadata as text", _succeeded(_intent(metadata="abc"))),
    _webhook("webhook object created as text", _succeeded(_intent(created="x"))),
    _webhook(
        "webhook refund amount as an object",
        stripe_events.event(
            "refund.updated", {"id": "re_1", "status": "succeeded", "amount": {"a": 1}}
        ),
    ),
    _webhook(
        "webhook refund status as a list",
        stripe_events.event("refund.updated", {"id": "re_1", "status": ["a"]}),
    ),
    # Fixed on main before issue 13 (kept here so the table is whole).
    _webhook(
        "signed event whose object has no id",
        stripe_events.event("payment_intent.succeeded", {"object": "payment_intent"}),
    ),
]
