"""After the faults: check DESIGN.md's invariants against PostgreSQL and the fake Stripe ledger."""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email import message_from_string
from pathlib import Path
from typing import Any

from django.db.models import Min

from config import task_names
from notifications.models import Notification, NotificationStatus
from payments import transitions
from payments.models import (
    ApiClient,
    Payment,
    PaymentEvent,
    Refund,
    RefundStatus,
    StripeEvent,
    StripeEventStatus,
)
from tests.chaos import fault_windows, refund_checks, sweeps, webhook_checks
from tests.chaos.fast_clock import ServiceClock
from tests.chaos.refund_load import RefundLoadResult
from tests.chaos.table import violations

# Final for the chaos suite: the charge has an outcome (a 3-D Secure payment waits for a
# customer who never comes), whatever was refunded since.
TERMINAL = transitions.CHARGE_FINISHED
EMAIL_KINDS: dict[str, str] = {
    **dict.fromkeys(transitions.PAID, "receipt"),
    transitions.S.FAILED: "payment_failed",
}


@dataclass
class ChaosReport:
    scenario: str
    submitted: int = 0
    accepted: int = 0
    in_database: int = 0
    succeeded: int = 0  # charged, whatever was refunded since
    failed: int = 0
    other_final: int = 0
    lost: int = 0
    not_final: int = 0
    double_charges: int = 0
    charges_for_unpaid: int = 0
    missing_emails: int = 0
    duplicate_emails: int = 0
    backward_events: int = 0
    email_redeliveries: int = 0
    client_retries: int = 0
    concurrent_duplicates: int = 0
    # Refunds (tests/chaos/refund_checks.py).
    refunds_requested: int = 0
    refund_races: int = 0
    refunds_accepted: int = 0
    refunds_refused: int = 0
    refunds_unanswered: int = 0
    unanswered_refunds: list[str] = field(default_factory=list)  # what each key got
    refunds_succeeded: int = 0
    refunds_failed: int = 0
    refunds_pending: int = 0
    refunds_lost: int = 0
    refunds_over_charge_here: int = 0
    refunds_over_charge_at_stripe: int = 0
    refunds_mismatched: int = 0
    double_refunds: int = 0
    missing_refund_emails: int = 0
    # Webhooks from the fake Stripe (tests/chaos/webhook_checks.py).
    webhooks_delivered: int = 0
    webhook_attempts: int = 0
    webhook_failed_attempts: int = 0
    webhooks_abandoned: int = 0
    webhooks_lost: int = 0
    webhooks_unapplied: int = 0
    webhooks_unmatched: int = 0
    unmatched_webhooks: list[str] = field(default_factory=list)  # type, object: why
    # Did each fault meet work in flight (tests/chaos/fault_windows.py)?
    in_flight_per_window: list[int] = field(default_factory=list)
    idle_fault_windows: int = 0
    # Work a recovery sweeper had to queue again because the fault lost its message.
    needed_sweeper: int = 0
    refunds_swept: int = 0
    # The slowest payment from acceptance to outcome, on the service's clock and on ours.
    slowest_service_seconds: float = 0.0
    slowest_real_seconds: float = 0.0
    clock_rate: int = 1
    seconds_to_drain: float = 0.0
    faults: list[str] = field(default_factory=list)
    fault_windows: list[tuple[float, float]] = field(default_factory=list)
    completions: list[float] = field(default_factory=list)
    load_started_at: float = 0.0

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        for bulky in ("completions", "fault_windows"):
            row.pop(bulky)
        return row

    def violations(self) -> list[str]:
        return violations(self.as_row())


def wait_until_final(
    client: ApiClient,
    timeout: float,
    *,
    webhooks_pending: Callable[[], int] | None = None,
) -> float:
    """Seconds until the client's payments and refunds are final, their emails sent, every
    webhook delivered and applied (or timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not _work_left(client) and (webhooks_pending is None or webhooks_pending() == 0):
            break
        time.sleep(0.5)
    return time.monotonic() - started


def _work_left(client: ApiClient) -> bool:
    payment_ids = list(Payment.objects.filter(client=client).values_list("pk", flat=True))
    refund_ids = list(Refund.objects.filter(payment__client=client).values_list("pk", flat=True))
    subjects = [f"payment:{pid}" for pid in payment_ids] + [f"refund:{rid}" for rid in refund_ids]
    return (
        Payment.objects.filter(client=client).exclude(status__in=TERMINAL).exists()
        or Refund.objects.filter(payment__client=client, status=RefundStatus.PENDING).exists()
        or Notification.objects.filter(
            subject__in=subjects, status=NotificationStatus.PENDING
        ).exists()
        or StripeEvent.objects.filter(status=StripeEventStatus.RECEIVED).exists()
    )


def check(
    report: ChaosReport,
    client: ApiClient,
    accepted: dict[str, str],
    ledger: dict[str, Any],
    mail_dir: Path,
    *,
    refunds: RefundLoadResult | None = None,
    webhook_deliveries: dict[str, Any] | None = None,
    clock: ServiceClock | None = None,
) -> ChaosReport:
    clock = clock or ServiceClock()
    payments = {str(p.pk): p for p in Payment.objects.filter(client=client)}
    report.accepted = len(accepted)
    report.in_database = len(payments)
    report.lost = sum(1 for pid in accepted.values() if pid not in payments)
    statuses = Counter(p.status for p in payments.values())
    report.succeeded = sum(statuses[status] for status in transitions.PAID)
    report.failed = statuses["failed"]
    report.other_final = statuses["requires_action"] + statuses["canceled"]
    report.not_final = sum(n for status, n in statuses.items() if status not in TERMINAL)

    charges = Counter(charge["metadata"].get("payment_id") for charge in ledger["charges"])
    report.double_charges = sum(1 for pid, n in charges.items() if pid in payments and n > 1)
    report.charges_for_unpaid = sum(
        1
        for pid, payment in payments.items()
        if charges[pid] != (1 if payment.status in transitions.PAID else 0)
    )
    deliveries = email_deliveries(mail_dir)
    _check_emails(report, payments, deliveries)
    _check_events(report, payments)
    refund_checks.check_refunds(report, client, refunds, ledger, deliveries)
    if webhook_deliveries is not None:
        webhook_checks.check_webhooks(report, webhook_deliveries)
    fault_windows.check_work_in_flight(report, client, clock)
    report.needed_sweeper = sweeps.finished_without_their_first_message(
        task_names.CHARGE_PAYMENT, payments
    )
    # Each payment's first outcome: a refund adds audit events (succeeded → succeeded).
    first_outcomes = (
        PaymentEvent.objects.filter(
            payment__client=client, to_status__in=transitions.CHARGE_OUTCOMES
        )
        .order_by()
        .values("payment_id")
        .annotate(at=Min("created_at"))
    )
    report.completions = sorted(clock.to_real(row["at"].timestamp()) for row in first_outcomes)
    return report


def email_deliveries(mail_dir: Path) -> Counter[str]:
    """Deliveries per Message-ID: an inbox shows one email per id, however often it came."""
    deliveries: Counter[str] = Counter()
    for path in mail_dir.glob("*.log"):
        for chunk in path.read_text().split("-" * 79):
            if chunk.strip():
                # Long headers are folded over two lines; unfold before comparing.
                message_id = message_from_string(chunk.strip())["Message-ID"]
                deliveries["".join(str(message_id).split())] += 1
    return deliveries


def _check_emails(
    report: ChaosReport, payments: dict[str, Payment], deliveries: Counter[str]
) -> None:
    sent = Counter(
        Notification.objects.filter(
            subject__in=[f"payment:{pid}" for pid in payments], status=NotificationStatus.SENT
        ).values_list("subject", flat=True)
    )
    for pid, payment in payments.items():
        kind = EMAIL_KINDS.get(payment.status)
        expected = f"<{kind}.payment.{pid}@payments>" if kind else None
        if expected and (sent[f"payment:{pid}"] != 1 or expected not in deliveries):
            report.missing_emails += 1
        wrong_kind = [
            mid for other in set(EMAIL_KINDS.values())
            if (mid := f"<{other}.payment.{pid}@payments>") != expected and mid in deliveries
        ]  # fmt: skip
        report.duplicate_emails += len(wrong_kind)
    # Sent again after a crash between SMTP and COMMIT: same Message-ID, one email shown.
    report.email_redeliveries = sum(n - 1 for n in deliveries.values() if n > 1)


def _check_events(report: ChaosReport, payments: dict[str, Payment]) -> None:
    history: dict[str, list[PaymentEvent]] = {}
    for event in PaymentEvent.objects.filter(payment_id__in=list(payments)).order_by("id"):
        history.setdefault(str(event.payment_id), []).append(event)
    for events in history.values():
        previous = ""
        for event in events:
            report.backward_events += 0 if _is_allowed(previous, event) else 1
            previous = event.to_status


def _is_allowed(previous: str, event: PaymentEvent) -> bool:
    """A forward move, an audit note (no change), or a correction Stripe's records prove."""
    if event.from_status != previous:
        return False
    if previous in ("", event.to_status):
        return True
    corrections = transitions.RECONCILIATION_CORRECTIONS.get(previous, frozenset())
    return transitions.can_move(previous, event.to_status) or (
        event.actor == "reconciliation" and event.to_status in corrections
    )
