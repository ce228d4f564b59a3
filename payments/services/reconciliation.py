"""Reconciliation: compare payments and refunds with the gateway, fix the safe mismatches."""

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from payments import selectors, transitions
from payments.exceptions import InvalidTransition
from payments.gateways.base import (
    IntentResult,
    PaymentGateway,
    RefundResult,
    RefundState,
)
from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from payments.services import outcomes, refunds

logger = logging.getLogger(__name__)


class MismatchKind(StrEnum):
    # Fixable: Stripe's record is final and ours can follow it.
    PAID_AT_STRIPE_NOT_HERE = "paid_at_stripe_not_here"
    BEHIND_STRIPE = "behind_stripe"
    REFUND_BEHIND_STRIPE = "refund_behind_stripe"
    # Reported only: they need a person (money may have to move, or a record is missing).
    NOT_PAID_AT_STRIPE = "not_paid_at_stripe"
    STATUS_DIFFERS = "status_differs"
    AMOUNT_DIFFERS = "amount_differs"
    MISSING_LOCALLY = "missing_locally"
    MISSING_AT_STRIPE = "missing_at_stripe"
    REFUND_DIFFERS = "refund_differs"
    REFUND_MISSING_LOCALLY = "refund_missing_locally"


@dataclass
class Mismatch:
    kind: MismatchKind
    payment_id: str
    stripe_id: str
    here: str
    at_stripe: str
    fixed: bool = False
    note: str = ""


@dataclass
class Report:
    intents_checked: int = 0
    refunds_checked: int = 0
    payments_checked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    def merge(self, other: "Report") -> None:
        self.intents_checked += other.intents_checked
        self.refunds_checked += other.refunds_checked
        self.payments_checked += other.payments_checked
        self.mismatches += other.mismatches

    def counts(self) -> dict[str, tuple[int, int]]:
        found = Counter(m.kind.value for m in self.mismatches)
        fixed = Counter(m.kind.value for m in self.mismatches if m.fixed)
        return {kind: (found[kind], fixed[kind]) for kind in sorted(found)}


def check_intents(report: Report, intents: list[IntentResult], *, fix: bool, actor: str) -> None:
    """Compare one page of gateway intents with our payments (two queries for the page)."""
    payments = selectors.payments_for_intents(intents)
    for intent in intents:
        report.intents_checked += 1
        _check_intent(report, intent, payments.get(intent.intent_id), fix=fix, actor=actor)


def check_refunds(report: Report, page: list[RefundResult], *, fix: bool, actor: str) -> None:
    for gateway_refund in page:
        report.refunds_checked += 1
        _check_refund(report, gateway_refund, fix=fix, actor=actor)


def check_local_payments(report: Report, missing: list[tuple[str, str, str]]) -> None:
    """Paid here, absent from the gateway's list: (payment id, intent id, status) each."""
    for payment_id, intent_id, status in missing:
        report.mismatches.append(
            Mismatch(MismatchKind.MISSING_AT_STRIPE, payment_id, intent_id, status, "—")
        )


def check_payment(
    payment_id: uuid.UUID | str, gateway: PaymentGateway, *, actor: str, fix: bool = True
) -> list[Mismatch]:
    """One payment against its PaymentIntent (the admin's "reconcile with Stripe")."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.stripe_payment_intent_id:
        intent: IntentResult | None = gateway.retrieve_intent(payment.stripe_payment_intent_id)
    else:
        intent = gateway.find_intent_by_payment_id(str(payment.pk))
    report = Report()
    if intent is None:
        if payment.status in transitions.PAID:
            report.mismatches.append(
                Mismatch(MismatchKind.MISSING_AT_STRIPE, str(payment.pk), "", payment.status, "—")
            )
        return report.mismatches
    _check_intent(report, intent, payment, fix=fix, actor=actor)
    return report.mismatches


def _check_intent(
    report: Report, intent: IntentResult, payment: Payment | None, *, fix: bool, actor: str
) -> None:
    mismatch = _compare_intent(intent, payment)
    if mismatch is None:
        return
    report.mismatches.append(mismatch)
    if fix and payment is not None:
        _fix_intent_mismatch(mismatch, intent, payment, actor)


def _compare_intent(intent: IntentResult, payment: Payment | None) -> Mismatch | None:
    at_stripe = str(intent.state)
    if payment is None:
        return Mismatch(
            MismatchKind.MISSING_LOCALLY,
            intent.metadata.get(selectors.PAYMENT_ID_METADATA_KEY, ""),
            intent.intent_id,
            "—",
            f"{at_stripe} {intent.amount} {intent.currency.upper()}",
        )

    known: Payment = payment  # narrowed for the closure below

    def mismatch(kind: MismatchKind, here: str = known.status, there: str = at_stripe) -> Mismatch:
        return Mismatch(kind, str(known.pk), intent.intent_id, here, there)

    if intent.amount != payment.amount or intent.currency.upper() != payment.currency.upper():
        return mismatch(
            MismatchKind.AMOUNT_DIFFERS,
            f"{payment.amount} {payment.currency.upper()}",
            f"{intent.amount} {intent.currency.upper()}",
        )
    expected = outcomes.PAYMENT_STATUS_OF_CHARGE_STATE.get(intent.state)
    here = PaymentStatus(payment.status)
    if expected == PaymentStatus.SUCCEEDED:
        if here in transitions.PAID:
            return None
        if here in transitions.RECONCILIATION_CORRECTIONS:
            return mismatch(MismatchKind.PAID_AT_STRIPE_NOT_HERE)
        return mismatch(MismatchKind.BEHIND_STRIPE)
    if here in transitions.PAID:
        return mismatch(MismatchKind.NOT_PAID_AT_STRIPE)
    if expected is None or here == expected:
        return None
    if here in transitions.OPEN and transitions.is_forward(here, expected):
        return mismatch(MismatchKind.BEHIND_STRIPE)
    return mismatch(MismatchKind.STATUS_DIFFERS)


def _fix_intent_mismatch(
    mismatch: Mismatch, intent: IntentResult, payment: Payment, actor: str
) -> None:
    reason = f"reconciliation: PaymentIntent {intent.intent_id} is {intent.state} at Stripe"
    outcome = outcomes.outcome_of(intent)
    try:
        if mismatch.kind == MismatchKind.PAID_AT_STRIPE_NOT_HERE:
            outcomes.correct_to_succeeded(payment.pk, intent.intent_id, actor=actor, reason=reason)
        elif mismatch.kind == MismatchKind.BEHIND_STRIPE and outcome is not None:
            outcomes.record_charge_outcome(payment.pk, outcome, actor=actor, reason=reason)
        else:
            return
    except InvalidTransition as refused:
        # The payment moved while we compared; the next run looks again.
        mismatch.note = str(refused)
        return
    mismatch.fixed = True
    mismatch.note = f"now {Payment.objects.values_list('status', flat=True).get(pk=payment.pk)}"


def _check_refund(report: Report, stripe_refund: RefundResult, *, fix: bool, actor: str) -> None:
    local = selectors.refund_for_gateway_refund(stripe_refund.refund_id, stripe_refund.metadata)
    mismatch = _compare_refund(stripe_refund, local)
    if mismatch is None:
        return
    report.mismatches.append(mismatch)
    if fix and local is not None and mismatch.kind == MismatchKind.REFUND_BEHIND_STRIPE:
        mismatch.note = "now " + refunds.record_refund_result(
            local.pk,
            state=stripe_refund.state,
            gateway_refund_id=stripe_refund.refund_id,
            failure_reason=stripe_refund.failure_reason,
            actor=actor,
        )
        mismatch.fixed = True


def _compare_refund(stripe_refund: RefundResult, local: Refund | None) -> Mismatch | None:
    there = f"{stripe_refund.state} {stripe_refund.amount}"
    if local is None:
        payment = selectors.payment_for_intent(
            stripe_refund.payment_intent_id, stripe_refund.metadata
        )
        return Mismatch(
            MismatchKind.REFUND_MISSING_LOCALLY,
            str(payment.pk)
            if payment
            else stripe_refund.metadata.get(selectors.PAYMENT_ID_METADATA_KEY, ""),
            stripe_refund.refund_id,
            "—",
            there,
        )
    here = f"{local.status} {local.amount}"
    payment_id = str(local.payment_id)
    if local.amount != stripe_refund.amount:
        return Mismatch(
            MismatchKind.REFUND_DIFFERS, payment_id, stripe_refund.refund_id, here, there
        )
    settled = stripe_refund.state == RefundState.SUCCEEDED
    failed = stripe_refund.state == RefundState.FAILED
    if local.status == RefundStatus.PENDING and (settled or failed):
        return Mismatch(
            MismatchKind.REFUND_BEHIND_STRIPE, payment_id, stripe_refund.refund_id, here, there
        )
    if (local.status == RefundStatus.FAILED and settled) or (
        local.status == RefundStatus.SUCCEEDED and failed
    ):
        return Mismatch(
            MismatchKind.REFUND_DIFFERS, payment_id, stripe_refund.refund_id, here, there
        )
    return None


def log_report(report: Report) -> None:
    """Counts and ids only (no emails or card data), one line per mismatch."""
    for mismatch in report.mismatches:
        logger.warning(
            "reconciliation %s payment=%s stripe=%s here=%s stripe_says=%s fixed=%s",
            mismatch.kind.value,
            mismatch.payment_id,
            mismatch.stripe_id,
            mismatch.here,
            mismatch.at_stripe,
            mismatch.fixed,
        )
    logger.info(
        "reconciliation checked %d intents, %d refunds: %d mismatches, %d fixed",
        report.intents_checked,
        report.refunds_checked,
        len(report.mismatches),
        sum(m.fixed for m in report.mismatches),
    )
