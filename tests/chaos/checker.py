"""After the faults: check DESIGN.md's invariants against PostgreSQL and the fake Stripe ledger."""

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from email import message_from_string
from pathlib import Path
from typing import Any

from notifications.models import Notification, NotificationStatus
from payments import transitions
from payments.models import ApiClient, Payment, PaymentEvent

TERMINAL = {"succeeded", "failed", "requires_action", "canceled"}
EMAIL_KINDS = {"succeeded": "receipt", "failed": "payment_failed"}


@dataclass
class ChaosReport:
    scenario: str
    submitted: int = 0
    accepted: int = 0
    in_database: int = 0
    succeeded: int = 0
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
        names = (
            "lost", "not_final", "double_charges", "charges_for_unpaid",
            "missing_emails", "duplicate_emails", "backward_events",
        )  # fmt: skip
        return [f"{name}={getattr(self, name)}" for name in names if getattr(self, name)]


def wait_until_final(client: ApiClient, timeout: float) -> float:
    """Seconds until every payment of the client is final and its email sent (or timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        unfinished = Payment.objects.filter(client=client).exclude(status__in=TERMINAL)
        payment_ids = Payment.objects.filter(client=client).values_list("pk", flat=True)
        unsent = Notification.objects.filter(
            subject__in=[f"payment:{pid}" for pid in payment_ids],
            status=NotificationStatus.PENDING,
        )
        if not unfinished.exists() and not unsent.exists():
            break
        time.sleep(0.5)
    return time.monotonic() - started


def check(
    report: ChaosReport,
    client: ApiClient,
    accepted: dict[str, str],
    ledger: dict[str, Any],
    mail_dir: Path,
) -> ChaosReport:
    payments = {str(p.pk): p for p in Payment.objects.filter(client=client)}
    report.accepted = len(accepted)
    report.in_database = len(payments)
    report.lost = sum(1 for pid in accepted.values() if pid not in payments)
    statuses = Counter(p.status for p in payments.values())
    report.succeeded = statuses["succeeded"]
    report.failed = statuses["failed"]
    report.other_final = statuses["requires_action"] + statuses["canceled"]
    report.not_final = sum(n for status, n in statuses.items() if status not in TERMINAL)

    charges = Counter(charge["metadata"].get("payment_id") for charge in ledger["charges"])
    report.double_charges = sum(1 for pid, n in charges.items() if pid in payments and n > 1)
    report.charges_for_unpaid = sum(
        1
        for pid, payment in payments.items()
        if charges[pid] != (1 if payment.status == "succeeded" else 0)
    )
    _check_emails(report, payments, mail_dir)
    _check_events(report, payments)
    report.completions = sorted(
        event.created_at.timestamp()
        for event in PaymentEvent.objects.filter(payment__client=client, to_status__in=TERMINAL)
    )
    return report


def _check_emails(report: ChaosReport, payments: dict[str, Payment], mail_dir: Path) -> None:
    # Deliveries per Message-ID: an inbox shows one email per id, however often it came.
    deliveries: Counter[str] = Counter()
    for path in mail_dir.glob("*.log"):
        for chunk in path.read_text().split("-" * 79):
            if chunk.strip():
                # Long headers are folded over two lines; unfold before comparing.
                message_id = message_from_string(chunk.strip())["Message-ID"]
                deliveries["".join(str(message_id).split())] += 1
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
            mid for other in EMAIL_KINDS.values()
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
