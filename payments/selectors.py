"""Payments' reads: every query the services, views, admin and commands share."""

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db.models import Exists, Model, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from outbox.recovery import not_waiting
from payments import transitions
from payments.exceptions import PaymentNotFound
from payments.gateways.base import IntentResult
from payments.models import (
    ApiClient,
    Payment,
    ReconciliationPhase,
    ReconciliationRun,
    ReconciliationSeenIntent,
    Refund,
    RefundStatus,
    StripeEvent,
    StripeEventStatus,
)

# The keys our own ids travel under in a gateway object's metadata.
PAYMENT_ID_METADATA_KEY = "payment_id"
REFUND_ID_METADATA_KEY = "refund_id"

Row = TypeVar("Row", bound=Model)


def payments_of_client(client: ApiClient, *, status: str | None = None) -> QuerySet[Payment]:
    payments = Payment.objects.filter(client=client)
    if status:
        payments = payments.filter(status=status)
    return payments


def payment_of_client(client: ApiClient, payment_id: str) -> Payment:
    """The client's payment; another client's payment is as missing as a made-up id."""
    try:
        return Payment.objects.get(client=client, pk=uuid.UUID(payment_id))
    except (ValueError, Payment.DoesNotExist) as missing:
        raise PaymentNotFound(f"no payment {payment_id!r}") from missing


def payment_by_idempotency_key(client: ApiClient, key: str) -> Payment | None:
    return Payment.objects.filter(client=client, idempotency_key=key).first()


def refund_by_idempotency_key(payment: Payment, key: str) -> Refund | None:
    return Refund.objects.filter(payment=payment, idempotency_key=key).first()


def stalled_payments(older_than: timedelta | None = None) -> QuerySet[Payment]:
    """Payments whose charge is still owed and that nothing touched for `older_than`.

    The one meaning of "stalled": the sweeper re-drives these, the monitor counts them,
    queue_status and the admin's filter list them. The default is STALLED_PAYMENT_SECONDS.
    """
    if older_than is None:
        older_than = timedelta(seconds=settings.STALLED_PAYMENT_SECONDS)
    cutoff = timezone.now() - older_than
    return Payment.objects.filter(
        not_waiting(cutoff), status__in=transitions.CHARGE_OWED, updated_at__lt=cutoff
    ).order_by("updated_at")


def stalled_refunds(older_than: timedelta) -> QuerySet[Refund]:
    """Refunds still pending that nothing touched for `older_than`."""
    cutoff = timezone.now() - older_than
    return Refund.objects.filter(
        not_waiting(cutoff), status=RefundStatus.PENDING, updated_at__lt=cutoff
    ).order_by("updated_at")


def unapplied_events(older_than: timedelta) -> QuerySet[StripeEvent]:
    """Inbox events stored but not applied, untouched for `older_than`."""
    cutoff = timezone.now() - older_than
    return StripeEvent.objects.filter(
        not_waiting(cutoff), status=StripeEventStatus.RECEIVED, updated_at__lt=cutoff
    ).order_by("updated_at")


def pending_refunds(*, since: datetime | None = None) -> QuerySet[Refund]:
    refunds = Refund.objects.filter(status=RefundStatus.PENDING)
    if since is not None:
        refunds = refunds.filter(created_at__gte=since)
    return refunds.order_by("created_at")


def received_events(*, since: datetime | None = None) -> QuerySet[StripeEvent]:
    events = StripeEvent.objects.filter(status=StripeEventStatus.RECEIVED)
    if since is not None:
        events = events.filter(received_at__gte=since)
    return events.order_by("received_at")


def unfinished_payments(*, since: datetime | None = None) -> QuerySet[Payment]:
    """Payments whose charge is still owed, oldest first (what a replay re-publishes)."""
    payments = Payment.objects.filter(status__in=transitions.CHARGE_OWED)
    if since is not None:
        payments = payments.filter(created_at__gte=since)
    return payments.order_by("created_at")


def paid_payments_with_intent(*, since: datetime | None = None) -> QuerySet[Payment]:
    paid = Payment.objects.filter(status__in=transitions.PAID).exclude(stripe_payment_intent_id="")
    if since is not None:
        paid = paid.filter(created_at__gte=since)
    return paid


def open_reconciliation_runs() -> QuerySet[ReconciliationRun]:
    return ReconciliationRun.objects.exclude(phase=ReconciliationPhase.DONE)


def stalled_reconciliation_runs(older_than: timedelta) -> QuerySet[ReconciliationRun]:
    """Runs not done whose last chunk committed longer ago than `older_than`."""
    cutoff = timezone.now() - older_than
    return open_reconciliation_runs().filter(not_waiting(cutoff), updated_at__lt=cutoff)


def payment_for_intent(intent_id: str, metadata: dict[str, str]) -> Payment | None:
    """Our payment for a gateway intent: by its stored id, else by the payment id we sent.

    The id we sent is trusted only while no intent is recorded on the payment: a worker
    may have died between creating the intent and storing its id.
    """
    return _by_gateway_id(
        Payment.objects.all(),
        "stripe_payment_intent_id",
        intent_id,
        metadata.get(PAYMENT_ID_METADATA_KEY, ""),
    )


def payments_for_intents(intents: list[IntentResult]) -> dict[str, Payment]:
    """`payment_for_intent` for a whole page at once: intent id → payment, where one exists."""
    by_our_id: dict[uuid.UUID, str] = {}
    for intent in intents:
        with contextlib.suppress(ValueError):
            by_our_id[uuid.UUID(intent.metadata.get(PAYMENT_ID_METADATA_KEY, ""))] = (
                intent.intent_id
            )
    # One statement, for the reason _by_gateway_id gives.
    rows = Payment.objects.filter(
        Q(stripe_payment_intent_id__in=[intent.intent_id for intent in intents])
        | Q(pk__in=by_our_id, stripe_payment_intent_id="")
    )
    by_stored_id: dict[str, Payment] = {}
    by_sent_id: dict[str, Payment] = {}
    for payment in rows:
        if payment.stripe_payment_intent_id:
            by_stored_id[payment.stripe_payment_intent_id] = payment
        else:
            by_sent_id[by_our_id[payment.pk]] = payment
    return {**by_sent_id, **by_stored_id}


@dataclass(frozen=True)
class LocalPaymentsChunk:
    # Paid here, but the gateway did not list their intent: (payment id, intent id, status).
    missing: list[tuple[str, str, str]]
    scanned: int
    # The last payment id looked at; "" once the window is exhausted.
    cursor: str


def paid_payments_missing_from_run(
    run: ReconciliationRun, *, after: str, limit: int
) -> LocalPaymentsChunk:
    """The next `limit` paid payments of the run's window, and which the gateway did not list.

    Read in (created_at, id) order from `after` (the cursor a previous chunk returned), so
    a chunk reads only the window, in index order, whatever the size of the table.
    """
    seen = ReconciliationSeenIntent.objects.filter(
        run=run, intent_id=OuterRef("stripe_payment_intent_id")
    )
    window = paid_payments_with_intent(since=run.since).filter(created_at__lt=run.started_at)
    if after:
        created, _, pk = after.partition("|")
        moment = datetime.fromisoformat(created)
        window = window.filter(
            Q(created_at__gt=moment) | Q(created_at=moment, pk__gt=uuid.UUID(pk)),
            created_at__gte=moment,
        )
    rows = list(
        window.annotate(listed=Exists(seen))
        .order_by("created_at", "pk")
        .values_list("pk", "created_at", "stripe_payment_intent_id", "status", "listed")[:limit]
    )
    last_pk, last_created = (rows[-1][0], rows[-1][1]) if rows else (None, None)
    return LocalPaymentsChunk(
        missing=[(str(pk), intent, status) for pk, _, intent, status, listed in rows if not listed],
        scanned=len(rows),
        cursor=f"{last_created.isoformat()}|{last_pk}"
        if len(rows) == limit and last_created
        else "",
    )


def refund_for_gateway_refund(gateway_refund_id: str, metadata: dict[str, str]) -> Refund | None:
    """Our refund for a gateway refund: by its stored id, else by the refund id we sent."""
    return _by_gateway_id(
        Refund.objects.all(),
        "stripe_refund_id",
        gateway_refund_id,
        metadata.get(REFUND_ID_METADATA_KEY, ""),
    )


def _by_gateway_id(
    rows: QuerySet[Row], gateway_id_field: str, gateway_id: str, our_id: str
) -> Row | None:
    # One statement, so one snapshot. As two (by the gateway id, then by our id while no
    # gateway id is stored) a worker committing the gateway id between them hid the row
    # from both: the chaos suite saw webhook events for a refund in flight end unmatched.
    match = Q(**{gateway_id_field: gateway_id}) if gateway_id else Q(pk__in=[])
    with contextlib.suppress(ValueError):
        match |= Q(pk=uuid.UUID(our_id), **{gateway_id_field: ""})
    candidates = list(rows.filter(match)[:2])
    stored = [
        row for row in candidates if gateway_id and getattr(row, gateway_id_field) == gateway_id
    ]
    return next(iter(stored or candidates), None)


def settled_refund_total(payment: Payment) -> int:
    """Money actually returned: refunds the gateway settled."""
    total = Refund.objects.filter(payment=payment, status=RefundStatus.SUCCEEDED).aggregate(
        total=Sum("amount")
    )["total"]
    return int(total or 0)


def refunds_not_failed_total(payment: Payment) -> int:
    """Refunds settled or still pending: what we expect the gateway to have refunded."""
    total = (
        Refund.objects.filter(payment=payment)
        .exclude(status=RefundStatus.FAILED)
        .aggregate(total=Sum("amount"))["total"]
    )
    return int(total or 0)
