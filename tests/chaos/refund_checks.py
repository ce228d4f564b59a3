"""Refund invariants: none left pending, never more than was charged (here and at Stripe),
Stripe's refunds exactly ours, one email per settled refund."""

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from config import task_names
from notifications.models import Notification, NotificationStatus
from payments.models import ApiClient, Payment, Refund, RefundStatus
from tests.chaos import sweeps
from tests.chaos.refund_load import RefundLoadResult

if TYPE_CHECKING:
    from tests.chaos.checker import ChaosReport


def check_refunds(
    report: "ChaosReport",
    client: ApiClient,
    load: RefundLoadResult | None,
    ledger: dict[str, Any],
    email_deliveries: Counter[str],
) -> None:
    refunds = {str(r.pk): r for r in Refund.objects.filter(payment__client=client)}
    if load is not None:
        report.refunds_requested = len(load.answers)
        report.refund_races = load.races
        report.refunds_accepted = len(load.accepted())
        report.refunds_refused = load.refused()
        unanswered = load.unanswered()
        report.refunds_unanswered = len(unanswered)
        report.unanswered_refunds = [f"{a.payment_id} {a.key}: {a.seen}" for a in unanswered]
        report.refunds_lost = sum(1 for a in load.accepted() if a.refund_id not in refunds)
    statuses = Counter(refund.status for refund in refunds.values())
    report.refunds_succeeded = statuses[RefundStatus.SUCCEEDED]
    report.refunds_failed = statuses[RefundStatus.FAILED]
    report.refunds_pending = statuses[RefundStatus.PENDING]
    _check_totals(report, client, refunds, ledger)
    _check_against_stripe(report, client, refunds, ledger)
    _check_refund_emails(report, refunds, email_deliveries)
    report.refunds_swept = sweeps.finished_without_their_first_message(
        task_names.REFUND_PAYMENT, refunds
    )


def _check_totals(
    report: "ChaosReport", client: ApiClient, refunds: dict[str, Refund], ledger: dict[str, Any]
) -> None:
    settled: Counter[str] = Counter()
    for refund in refunds.values():
        if refund.status == RefundStatus.SUCCEEDED:
            settled[str(refund.payment_id)] += refund.amount
    report.refunds_over_charge_here = sum(
        1
        for payment in Payment.objects.filter(client=client)
        if settled[str(payment.pk)] > payment.amount or payment.amount_refunded > payment.amount
    )
    charged: Counter[str] = Counter()
    refunded: Counter[str] = Counter()
    for charge in ledger["charges"]:
        charged[charge["payment_intent"]] += charge["amount"]
    for refund in ledger["refunds"]:
        refunded[refund["payment_intent"]] += refund["amount"]
    report.refunds_over_charge_at_stripe = sum(
        1 for intent, amount in refunded.items() if amount > charged[intent]
    )


def _check_against_stripe(
    report: "ChaosReport", client: ApiClient, refunds: dict[str, Refund], ledger: dict[str, Any]
) -> None:
    """Each settled refund of ours is one Stripe refund of its amount; no other Stripe refund.

    Only Stripe refunds of this client's PaymentIntents count: the crash-point matrix runs
    one client per cell against one fake Stripe, whose ledger holds every cell's refunds.
    """
    intents = set(
        Payment.objects.filter(client=client)
        .exclude(stripe_payment_intent_id="")
        .values_list("stripe_payment_intent_id", flat=True)
    )
    at_stripe: dict[str, list[int]] = defaultdict(list)
    for entry in ledger["refunds"]:
        if entry["payment_intent"] in intents:
            at_stripe[entry["metadata"].get("refund_id", "")].append(entry["amount"])
    report.double_refunds = sum(len(amounts) - 1 for amounts in at_stripe.values() if amounts)
    mismatched = sum(1 for refund_id in at_stripe if refund_id not in refunds)
    for refund_id, refund in refunds.items():
        expected = [refund.amount] if refund.status == RefundStatus.SUCCEEDED else []
        mismatched += at_stripe.get(refund_id, []) != expected
    report.refunds_mismatched = mismatched


def _check_refund_emails(
    report: "ChaosReport", refunds: dict[str, Refund], deliveries: Counter[str]
) -> None:
    subjects = [f"refund:{refund_id}" for refund_id in refunds]
    sent = Counter(
        Notification.objects.filter(
            subject__in=subjects, status=NotificationStatus.SENT
        ).values_list("subject", flat=True)
    )
    report.missing_refund_emails = sum(
        1
        for refund_id, refund in refunds.items()
        if refund.status == RefundStatus.SUCCEEDED
        and (
            sent[f"refund:{refund_id}"] != 1
            or f"<refund.refund.{refund_id}@payments>" not in deliveries
        )
    )
