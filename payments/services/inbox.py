"""The webhook inbox: store each verified gateway event once, apply it later in a task."""

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from config import failpoints, task_names
from outbox import services as outbox
from payments import selectors, transitions
from payments.gateways.base import EventKind, GatewayEvent, PaymentGateway
from payments.models import StripeEvent, StripeEventStatus
from payments.services import outcomes, refunds

logger = logging.getLogger(__name__)


def receive_event(gateway: PaymentGateway, body: bytes, headers: Mapping[str, str]) -> StripeEvent:
    """Verify and store one delivery; a new event of a handled kind is queued for processing."""
    # The signature first, outside any transaction: a forged delivery never takes a
    # database connection (anyone can send them; each thread would keep one open).
    event = gateway.parse_event(body, headers)
    inbox = _store_event(event)
    # Committed, Stripe not answered yet: it delivers again and finds the event stored.
    failpoints.maybe_crash("webhook.after_inbox_commit")
    return inbox


@transaction.atomic(durable=True)
def _store_event(event: GatewayEvent) -> StripeEvent:
    handled = event.kind in EVENT_HANDLERS
    inbox, created = StripeEvent.objects.get_or_create(
        event_id=event.event_id,
        defaults={
            "event_type": event.event_type,
            "object_id": event.object_id[:255],
            "stripe_created": event.created,
            "payload": event.payload,
            "status": StripeEventStatus.RECEIVED if handled else StripeEventStatus.IGNORED,
            "outcome": "" if handled else "event type not handled",
        },
    )
    if created and handled:
        outbox.enqueue(task_names.PROCESS_STRIPE_EVENT, inbox.pk)
    failpoints.maybe_crash("webhook.before_inbox_commit")
    return inbox


@dataclass(frozen=True)
class Handled:
    status: str
    outcome: str
    payment_id: uuid.UUID | None = None


def process_event(inbox_id: int, gateway: PaymentGateway) -> str:
    """Apply one stored event; the inbox row stays locked, so a redelivered task waits, then skips.

    Every change only moves forward, so an event that arrives late, twice or out of
    order leaves newer state alone.
    """
    with transaction.atomic():
        inbox = StripeEvent.objects.select_for_update().get(pk=inbox_id)
        if inbox.status != StripeEventStatus.RECEIVED:
            return inbox.status
        event = gateway.read_stored_event(inbox.payload)
        result = EVENT_HANDLERS[event.kind](event)
        inbox.status = result.status
        inbox.outcome = result.outcome[:500]
        inbox.payment_id = result.payment_id
        inbox.processed_at = timezone.now()
        inbox.save(update_fields=["status", "outcome", "payment", "processed_at"])
        if result.status == StripeEventStatus.UNMATCHED:
            logger.warning("gateway event %s: %s", inbox.event_id, result.outcome)
        failpoints.maybe_crash("webhook.before_apply_commit")
    failpoints.maybe_crash("webhook.after_apply_commit")
    return inbox.status


def _charge_updated(event: GatewayEvent) -> Handled:
    assert event.intent is not None
    intent = event.intent
    payment = selectors.payment_for_intent(intent.intent_id, intent.metadata)
    if payment is None:
        return Handled(StripeEventStatus.UNMATCHED, f"no payment for {intent.intent_id}")
    outcome = outcomes.outcome_of(intent)
    if outcome is None:
        return Handled(StripeEventStatus.PROCESSED, "no outcome in this event", payment.pk)
    result = outcomes.record_charge_outcome(
        payment.pk,
        outcome,
        actor=transitions.WEBHOOK_ACTOR,
        reason=f"{event.event_type} {event.event_id}",
    )
    return Handled(StripeEventStatus.PROCESSED, result.note, payment.pk)


def _refund_updated(event: GatewayEvent) -> Handled:
    assert event.refund is not None
    gateway_refund = event.refund
    local = selectors.refund_for_gateway_refund(gateway_refund.refund_id, gateway_refund.metadata)
    if local is None:
        return Handled(StripeEventStatus.UNMATCHED, f"no refund for {gateway_refund.refund_id}")
    before = local.status
    after = refunds.record_refund_result(
        local.pk,
        state=gateway_refund.state,
        gateway_refund_id=gateway_refund.refund_id,
        failure_reason=gateway_refund.failure_reason,
        actor=transitions.WEBHOOK_ACTOR,
    )
    note = f"refund {before} → {after}" if after != before else f"no change: refund is {after}"
    return Handled(StripeEventStatus.PROCESSED, note, local.payment_id)


def _refunds_totalled(event: GatewayEvent) -> Handled:
    # Refund events settle our refunds; this one only checks the totals agree, so a refund
    # made outside this service (the provider's dashboard) is left for reconciliation.
    payment = selectors.payment_for_intent(event.refunded_intent_id, {})
    if payment is None:
        return Handled(StripeEventStatus.UNMATCHED, f"no payment for {event.object_id}")
    known = selectors.refunds_not_failed_total(payment)
    if event.refunded_total > known:
        return Handled(
            StripeEventStatus.UNMATCHED,
            f"the gateway refunded {event.refunded_total}, this service knows of {known}",
            payment.pk,
        )
    return Handled(StripeEventStatus.PROCESSED, "refund totals agree", payment.pk)


EVENT_HANDLERS: dict[EventKind, Callable[[GatewayEvent], Handled]] = {
    EventKind.CHARGE_UPDATED: _charge_updated,
    EventKind.REFUND_UPDATED: _refund_updated,
    EventKind.REFUNDS_TOTALLED: _refunds_totalled,
}
