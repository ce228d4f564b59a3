"""Webhook invariants: every event we acknowledged is in the inbox and applied."""

from typing import TYPE_CHECKING, Any

from payments.models import StripeEvent, StripeEventStatus

if TYPE_CHECKING:
    from tests.chaos.checker import ChaosReport


def check_webhooks(report: "ChaosReport", deliveries: dict[str, Any]) -> None:
    """`deliveries`: the fake Stripe's /_fake/webhook_deliveries (every attempt, in order)."""
    attempts = deliveries["data"]
    acknowledged = {a["event"] for a in attempts if a["succeeded"]}
    attempted = {a["event"] for a in attempts}
    report.webhook_attempts = len(attempts)
    report.webhook_failed_attempts = sum(1 for a in attempts if not a["succeeded"])
    report.webhooks_delivered = len(acknowledged)
    # Stripe stopped retrying (the web was down for all its attempts): reconciliation's job.
    report.webhooks_abandoned = len(attempted - acknowledged) if not deliveries["pending"] else 0
    inbox = dict(StripeEvent.objects.values_list("event_id", "status"))
    # We answered 2xx, so Stripe will never send it again: it must be stored.
    report.webhooks_lost = sum(1 for event_id in acknowledged if event_id not in inbox)
    statuses = list(inbox.values())
    report.webhooks_unapplied = statuses.count(StripeEventStatus.RECEIVED)
    # Every object at this fake is ours: an event we cannot match to it is a bug.
    report.webhooks_unmatched = statuses.count(StripeEventStatus.UNMATCHED)
    report.unmatched_webhooks = [
        f"{event_type} {object_id}: {outcome}"
        for event_type, object_id, outcome in StripeEvent.objects.filter(
            status=StripeEventStatus.UNMATCHED
        ).values_list("event_type", "object_id", "outcome")
    ]
