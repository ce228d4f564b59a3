"""Stripe webhooks: the Stripe-Signature check on the raw body; events read as GatewayEvents."""

import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from payments import json_input
from payments.exceptions import WebhookPayloadInvalid, WebhookSignatureInvalid
from payments.gateways.base import ChargeState, EventKind, GatewayEvent
from payments.gateways.stripe.objects import intent_result, refund_result

SIGNATURE_HEADER = "Stripe-Signature"
# ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# Stripe's ids and event types, bounded by the inbox's columns (255 and 100 characters).
_EVENT_ID = re.compile(r"evt_[A-Za-z0-9_]{1,251}")
_EVENT_TYPE = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+){1,4}")
_EVENT_TYPE_MAX_LENGTH = 100
_BIGINT_MAX = 2**63 - 1

# The PaymentIntent events this service acts on, and the state each one reports.
_CHARGE_EVENTS = {
    "payment_intent.succeeded": ChargeState.SUCCEEDED,
    "payment_intent.payment_failed": ChargeState.FAILED,
    "payment_intent.canceled": ChargeState.CANCELED,
    "payment_intent.requires_action": ChargeState.REQUIRES_ACTION,
}
_REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed"})
_REFUNDS_TOTALLED_EVENT = "charge.refunded"
# What a webhook endpoint subscribes to (README, "With real Stripe"): Stripe then sends
# nothing this service would only store and ignore.
HANDLED_EVENT_TYPES = (*_CHARGE_EVENTS, _REFUNDS_TOTALLED_EVENT, *sorted(_REFUND_EVENTS))


def verify_signature(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    tolerance_seconds: int,
    now: float | None = None,
) -> None:
    """Check a `Stripe-Signature: t=...,v1=...` header the way Stripe's libraries do.

    https://docs.stripe.com/webhooks#verify-manually: HMAC-SHA256 of "<t>.<raw body>"
    with the endpoint secret; any of several v1 signatures and any of our secrets may
    match (secret rotation); a timestamp outside the tolerance is a replay.
    """
    if not header:
        raise WebhookSignatureInvalid("the Stripe-Signature header is missing")
    timestamp, signatures = _parse_signature_header(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise WebhookSignatureInvalid("the signature timestamp is outside the tolerance")
    signed = f"{timestamp}.".encode() + payload
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, signature) for signature in signatures):
            return
    raise WebhookSignatureInvalid("no signature matches a configured webhook secret")


def _parse_signature_header(header: str) -> tuple[int, list[str]]:
    pairs = [item.split("=", 1) for item in header.split(",") if "=" in item]
    timestamps = [value.strip() for key, value in pairs if key.strip() == "t"]
    signatures = [value.strip() for key, value in pairs if key.strip() == "v1"]
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]) or not signatures:
        raise WebhookSignatureInvalid("the Stripe-Signature header is malformed")
    # compare_digest refuses non-ASCII str; such a signature cannot match anyway.
    return int(timestamps[0]), [s for s in signatures if s.isascii()]


def parse_event(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    tolerance_seconds: int,
) -> GatewayEvent:
    verify_signature(body, headers.get(SIGNATURE_HEADER), secrets, tolerance_seconds)
    try:
        payload = json_input.loads(body)
    except json_input.UnsafeJson as error:
        raise WebhookPayloadInvalid(f"the body is not a Stripe event: {error}") from error
    if any(True for _ in json_input.unstorable_strings(payload)):
        # The inbox stores the payload as jsonb: refuse here what PostgreSQL would refuse.
        raise WebhookPayloadInvalid("the event holds NUL characters or lone surrogates")
    return read_event(payload)


def read_event(payload: Any) -> GatewayEvent:
    """A Stripe Event object (already verified) as a GatewayEvent."""
    if not _looks_like_event(payload):
        raise WebhookPayloadInvalid("the body is not a Stripe event")
    try:
        return _gateway_event(payload)
    except (TypeError, ValueError) as error:
        # A field of the wrong type (an amount as text, metadata as a list): refused
        # while the sender is still listening, instead of failing later in a worker.
        raise WebhookPayloadInvalid(f"a malformed {payload['type']} event: {error}") from error


def _gateway_event(payload: dict[str, Any]) -> GatewayEvent:
    event_type: str = payload["type"]
    data_object: dict[str, Any] = payload["data"]["object"]
    object_id = data_object.get("id")
    kind = _kind_of(event_type)
    if kind != EventKind.OTHER and not isinstance(object_id, str):
        raise WebhookPayloadInvalid(f"a {event_type} event needs its object's id")
    event = GatewayEvent(
        event_id=payload["id"],
        event_type=event_type,
        created=payload["created"],
        object_id=str(object_id or ""),
        kind=kind,
        payload=payload,
    )
    if kind == EventKind.CHARGE_UPDATED:
        intent = intent_result(data_object, state=_CHARGE_EVENTS[event_type])
        return replace(event, intent=intent)
    if kind == EventKind.REFUND_UPDATED:
        return replace(event, refund=refund_result(data_object))
    if kind == EventKind.REFUNDS_TOTALLED:
        return replace(
            event,
            refunded_intent_id=str(data_object.get("payment_intent") or ""),
            refunded_total=_non_negative_int(data_object.get("amount_refunded")),
        )
    return event


def _kind_of(event_type: str) -> EventKind:
    if event_type in _CHARGE_EVENTS:
        return EventKind.CHARGE_UPDATED
    if event_type in _REFUND_EVENTS:
        return EventKind.REFUND_UPDATED
    if event_type == _REFUNDS_TOTALLED_EVENT:
        return EventKind.REFUNDS_TOTALLED
    return EventKind.OTHER


def _looks_like_event(payload: Any) -> bool:
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("id"), str)
        and _EVENT_ID.fullmatch(payload["id"]) is not None
        and isinstance(payload.get("type"), str)
        and len(payload["type"]) <= _EVENT_TYPE_MAX_LENGTH
        and _EVENT_TYPE.fullmatch(payload["type"]) is not None
        and isinstance(payload.get("created"), int)
        and not isinstance(payload["created"], bool)
        and 0 <= payload["created"] <= _BIGINT_MAX
        and isinstance(payload.get("data"), dict)
        and isinstance(payload["data"].get("object"), dict)
    )


def _non_negative_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
