"""Stripe's webhook format stays in the gateway: signatures checked, events read neutrally."""

import re

import pytest
import stripe

from payments.exceptions import WebhookPayloadInvalid, WebhookSignatureInvalid
from payments.gateways.base import ChargeState, EventKind, RefundState
from payments.gateways.stripe import webhooks
from tests.payments.stripe_events import body, event, intent, signature_header
from tests.processes import PROJECT_ROOT

SECRET = "whsec_current"


def parse(data: dict) -> object:
    payload = body(data)
    return webhooks.parse_event(
        payload, {"Stripe-Signature": signature_header(payload, SECRET)}, [SECRET], 300
    )


def test_our_signatures_are_the_ones_stripes_library_accepts():
    payload = body(event("payment_intent.succeeded", intent("pi_1", "succeeded")))

    verified = stripe.Webhook.construct_event(payload, signature_header(payload, SECRET), SECRET)

    assert verified.type == "payment_intent.succeeded"


@pytest.mark.parametrize(("age", "accepted"), [(300, True), (301, False), (-301, False)])
def test_the_tolerance_is_300_seconds_either_way(age, accepted):
    payload = b"{}"
    header = signature_header(payload, SECRET, timestamp=1_000_000)

    def verify() -> None:
        webhooks.verify_signature(payload, header, [SECRET], 300, now=1_000_000 + age)

    if accepted:
        verify()
    else:
        with pytest.raises(WebhookSignatureInvalid, match="tolerance"):
            verify()


@pytest.mark.parametrize("header", ["t=²,v1=00", "t=1e9,v1=00", "t=,v1=00", "v1=00", "t=1"])
def test_a_malformed_header_is_refused_not_a_crash(header):
    with pytest.raises(WebhookSignatureInvalid, match="malformed"):
        webhooks.verify_signature(b"{}", header, [SECRET], 300)


@pytest.mark.parametrize(
    ("event_type", "status", "error", "state"),
    [
        ("payment_intent.succeeded", "succeeded", None, ChargeState.SUCCEEDED),
        ("payment_intent.payment_failed", "requires_payment_method", "x", ChargeState.FAILED),
        ("payment_intent.canceled", "canceled", None, ChargeState.CANCELED),
        ("payment_intent.requires_action", "requires_action", None, ChargeState.REQUIRES_ACTION),
    ],
)
def test_payment_intent_events_report_a_charge_state(event_type, status, error, state):
    decline = {"code": "card_declined", "decline_code": "insufficient_funds"} if error else None
    data = event(event_type, intent("pi_1", status, payment_id="p-1", error=decline))

    parsed = parse(data)

    assert parsed.kind == EventKind.CHARGE_UPDATED
    assert (parsed.event_id, parsed.object_id, parsed.payload) == (data["id"], "pi_1", data)
    assert parsed.intent.state == state
    assert parsed.intent.metadata == {"payment_id": "p-1"}
    assert parsed.intent.failure_code == ("insufficient_funds" if error else "")


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("succeeded", RefundState.SUCCEEDED),
        ("canceled", RefundState.FAILED),
        ("pending", RefundState.PENDING),
    ],
)
def test_refund_events_report_a_refund_state(status, state):
    refund = {
        "id": "re_1",
        "object": "refund",
        "amount": 500,
        "currency": "usd",
        "status": status,
        "payment_intent": "pi_1",
        "metadata": {"refund_id": "r-1"},
    }

    parsed = parse(event("refund.updated", refund))

    assert parsed.kind == EventKind.REFUND_UPDATED
    assert (parsed.refund.refund_id, parsed.refund.state, parsed.refund.payment_intent_id) == (
        "re_1",
        state,
        "pi_1",
    )


def test_charge_refunded_reports_the_refunded_total():
    charge = {"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount_refunded": 700}

    parsed = parse(event("charge.refunded", charge))

    assert (parsed.kind, parsed.refunded_intent_id, parsed.refunded_total) == (
        EventKind.REFUNDS_TOTALLED,
        "pi_1",
        700,
    )


def test_other_event_types_are_read_but_not_acted_on():
    assert parse(event("customer.created", {"id": "cus_1"})).kind == EventKind.OTHER


def test_an_event_about_an_object_without_an_id_is_refused():
    with pytest.raises(WebhookPayloadInvalid):
        parse(
            event("payment_intent.succeeded", {"object": "payment_intent", "status": "succeeded"})
        )


@pytest.mark.parametrize("payload", [b"[]", b"{}", b'{"id": "evt_1"}', b"not json"])
def test_a_signed_body_that_is_not_an_event_is_refused(payload):
    with pytest.raises(WebhookPayloadInvalid):
        webhooks.parse_event(
            payload, {"Stripe-Signature": signature_header(payload, SECRET)}, [SECRET], 300
        )


def test_the_readme_subscribes_an_endpoint_to_exactly_the_events_handled():
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("### With real Stripe", 1)[1].split("secret in", 1)[0]

    assert set(re.findall(r"`([a-z_]+\.[a-z_.]+)`", section)) == set(webhooks.HANDLED_EVENT_TYPES)
