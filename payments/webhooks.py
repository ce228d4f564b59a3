"""Stripe webhooks: verify the raw body's signature, store the event in an inbox; process later."""

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config import task_names
from outbox import services as outbox
from payments import refunds, stripe_sync
from payments.exceptions import WebhookPayloadInvalid, WebhookSignatureInvalid
from payments.models import PaymentStatus, RefundStatus, StripeEvent, StripeEventStatus

logger = logging.getLogger(__name__)

WEBHOOK_ACTOR = "stripe:webhook"


# --- Receiving -------------------------------------------------------------------------------


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
    timestamps = [value for key, value in pairs if key.strip() == "t"]
    signatures = [value.strip() for key, value in pairs if key.strip() == "v1"]
    if len(timestamps) != 1 or not timestamps[0].strip().isdigit() or not signatures:
        raise WebhookSignatureInvalid("the Stripe-Signature header is malformed")
    return int(timestamps[0]), signatures


@transaction.atomic(durable=True)
def receive_event(payload: bytes, signature_header: str | None) -> StripeEvent:
    """Verify and store one delivery; a new event of a handled type is queued for processing."""
    verify_signature(
        payload,
        signature_header,
        settings.STRIPE_WEBHOOK_SECRETS,
        settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
    )
    event = _parse_event(payload)
    handled = event["type"] in EVENT_HANDLERS
    inbox, created = StripeEvent.objects.get_or_create(
        event_id=event["id"],
        defaults={
            "event_type": event["type"],
            "object_id": str(event["data"]["object"].get("id", ""))[:255],
            "stripe_created": event["created"],
            "payload": event,
            "status": StripeEventStatus.RECEIVED if handled else StripeEventStatus.IGNORED,
            "outcome": "" if handled else "event type not handled",
        },
    )
    if created and handled:
        outbox.enqueue(task_names.PROCESS_STRIPE_EVENT, inbox.pk)
    return inbox


def _parse_event(payload: bytes) -> dict[str, Any]:
    try:
        event = json.loads(payload)
        valid = (
            isinstance(event, dict)
            and isinstance(event.get("id"), str)
            and event["id"].startswith("evt_")
            and isinstance(event.get("type"), str)
            and isinstance(event.get("created"), int)
            and isinstance(event.get("data"), dict)
            and isinstance(event["data"].get("object"), dict)
        )
    except ValueError:
        valid = False
    if not valid:
        raise WebhookPayloadInvalid("the body is not a Stripe event")
    result: dict[str, Any] = event
    return result


# --- Processing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handled:
    status: str
    outcome: str
    payment_id: uuid.UUID | None = None


def process_event(inbox_id: int) -> str:
    """Apply one stored event; the inbox row stays locked, so a redelivered task waits, then skips.

    Every change only moves forward, so an event that arrives late, twice or out of
    order leaves newer state alone.
    """
    with transaction.atomic():
        inbox = StripeEvent.objects.select_for_update().get(pk=inbox_id)
        if inbox.status != StripeEventStatus.RECEIVED:
            return inbox.status
        handler = EVENT_HANDLERS[inbox.event_type]
        result = handler(inbox.event_type, inbox.payload["data"]["object"], inbox.event_id)
        inbox.status = result.status
        inbox.outcome = result.outcome[:500]
        inbox.payment_id = result.payment_id
        inbox.processed_at = timezone.now()
        inbox.save(update_fields=["status", "outcome", "payment", "processed_at"])
        if result.status == StripeEventStatus.UNMATCHED:
            logger.warning("Stripe event %s: %s", inbox.event_id, result.outcome)
        return inbox.status


_INTENT_EVENT_OUTCOMES = {
    "payment_intent.succeeded": PaymentStatus.SUCCEEDED,
    "payment_intent.payment_failed": PaymentStatus.FAILED,
    "payment_intent.canceled": PaymentStatus.CANCELED,
    "payment_intent.requires_action": PaymentStatus.REQUIRES_ACTION,
}


def _handle_intent_event(event_type: str, intent: dict[str, Any], event_id: str) -> Handled:
    payment = stripe_sync.find_payment_for_intent(intent["id"], intent.get("metadata") or {})
    if payment is None:
        return Handled(StripeEventStatus.UNMATCHED, f"no payment for {intent['id']}")
    error = intent.get("last_payment_error") or {}
    outcome = stripe_sync.IntentOutcome(
        intent_id=intent["id"],
        status=_INTENT_EVENT_OUTCOMES[event_type],
        failure_code=error.get("decline_code") or error.get("code") or "",
        failure_message=error.get("message") or "",
    )
    result = stripe_sync.apply_intent_outcome(
        payment.pk, outcome, actor=WEBHOOK_ACTOR, reason=f"{event_type} {event_id}"
    )
    return Handled(StripeEventStatus.PROCESSED, result.note, payment.pk)


def _handle_refund_event(event_type: str, refund: dict[str, Any], event_id: str) -> Handled:
    local = refunds.find_refund(refund["id"], refund.get("metadata") or {})
    if local is None:
        return Handled(StripeEventStatus.UNMATCHED, f"no refund for {refund['id']}")
    before = local.status
    after = refunds.record_refund_result(
        local.pk,
        stripe_status=refund.get("status") or "",
        stripe_refund_id=refund["id"],
        failure_reason=refund.get("failure_reason") or "",
        actor=WEBHOOK_ACTOR,
    )
    note = f"refund {before} → {after}" if after != before else f"no change: refund is {after}"
    return Handled(StripeEventStatus.PROCESSED, note, local.payment_id)


def _handle_charge_refunded(event_type: str, charge: dict[str, Any], event_id: str) -> Handled:
    # The refund.* events settle our refunds; this one only checks the totals agree, so
    # a refund made outside this service (the Stripe dashboard) is left for reconciliation.
    payment = stripe_sync.find_payment_for_intent(str(charge.get("payment_intent") or ""), {})
    if payment is None:
        return Handled(StripeEventStatus.UNMATCHED, f"no payment for {charge.get('id')}")
    known = sum(
        payment.refunds.exclude(status=RefundStatus.FAILED).values_list("amount", flat=True)
    )
    at_stripe = int(charge.get("amount_refunded") or 0)
    if at_stripe > known:
        return Handled(
            StripeEventStatus.UNMATCHED,
            f"Stripe refunded {at_stripe}, this service knows of {known}",
            payment.pk,
        )
    return Handled(StripeEventStatus.PROCESSED, "refund totals agree", payment.pk)


EventHandler = Callable[[str, dict[str, Any], str], Handled]
EVENT_HANDLERS: dict[str, EventHandler] = {
    **dict.fromkeys(_INTENT_EVENT_OUTCOMES, _handle_intent_event),
    "refund.created": _handle_refund_event,
    "refund.updated": _handle_refund_event,
    "refund.failed": _handle_refund_event,
    "charge.refunded": _handle_charge_refunded,
}
