"""The crash-point matrix: kill -9 a real process at each failpoint in turn, then check.

One stack for the whole matrix. For each cell: arm the step in the process that runs it
(config/failpoints.py), drive a small load through it, see that process die there (its
marker file, the process gone), restart what died, wait until everything is final, and
check DESIGN.md's invariants for the cell's own API client.
"""

import json
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from django.utils import timezone

# Imported while this process's environment is still unarmed: the test process reads no
# failpoint directory, so it can never be the one that dies.
from config import failpoints
from notifications.models import Notification, NotificationKind, NotificationStatus
from payments import services, transitions
from payments.models import (
    ApiClient,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    StripeEvent,
    StripeEventStatus,
)
from tests.chaos.checker import ChaosReport, check, email_deliveries, wait_until_final
from tests.chaos.load import RETRYABLE_STATUSES, LoadGenerator
from tests.chaos.matrix_report import write_row
from tests.chaos.stack import ChaosStack, fast_sweepers

WEB = "web"  # one gunicorn worker process dies; its master starts another
WORKER = "worker"  # a whole Celery worker (main process and pool) dies; the matrix restarts it

PAYMENTS = "payments"
REFUNDS = "refunds"  # the payments, then two concurrent partial refunds of each one paid

PAYMENTS_PER_CELL = 6
CRASH_WAIT_SECONDS = 60.0
# A cell's load is a handful of payments, never a queue: the sweepers can re-drive after
# 3 s rather than the scenarios' 8 s: a worker cell recovers in about 4 s instead of 21.
SWEEPERS = fast_sweepers(stalled_seconds=3)
# A cell that is not final long after the sweepers' threshold is a finding, not a slow
# machine.
SETTLE_SECONDS = 120.0
CLIENT_GIVE_UP_SECONDS = 120.0

# A claim whose request died before COMMIT holds its key for this long (60 s in
# production): shortened like the sweepers, so the clients' retries get through sooner.
WEB_ENV = {"IDEMPOTENCY_LOCK_TIMEOUT_SECONDS": "10"}


@dataclass(frozen=True)
class Cell:
    step: str
    process: str
    load: str = PAYMENTS

    @property
    def name(self) -> str:
        return f"{self.step}@{self.process}"


CELLS = (
    Cell("charge.accept_before_commit", WEB),
    Cell("outbox.after_commit_before_publish", WEB),
    Cell("outbox.after_publish_before_mark_published", WEB),
    Cell("charge.before_create_intent", WORKER),
    Cell("charge.after_create_intent_before_commit", WORKER),
    Cell("charge.after_confirm_before_commit", WORKER),
    Cell("charge.after_outcome_commit", WORKER),
    Cell("outbox.after_commit_before_publish", WORKER),
    Cell("refund.request_before_commit", WEB, REFUNDS),
    Cell("refund.before_stripe", WORKER, REFUNDS),
    Cell("refund.after_stripe_before_commit", WORKER, REFUNDS),
    Cell("refund.after_outcome_commit", WORKER, REFUNDS),
    Cell("webhook.before_inbox_commit", WEB),
    Cell("webhook.after_inbox_commit", WEB),
    Cell("webhook.before_apply_commit", WORKER),
    Cell("webhook.after_apply_commit", WORKER),
    Cell("notification.before_send", WORKER),
    Cell("notification.after_send_before_mark_sent", WORKER),
    Cell("notification.after_mark_sent_commit", WORKER),
)


def selected_cells(spec: str) -> list[Cell]:
    """Every cell, or those `spec` names (comma-separated steps or step@process)."""
    wanted = {name.strip() for name in spec.split(",") if name.strip()}
    if not wanted:
        return list(CELLS)
    cells = [cell for cell in CELLS if cell.step in wanted or cell.name in wanted]
    assert cells, f"no matrix cell named {sorted(wanted)}"
    return cells


class Arming:
    """The failpoint directories of the stack: one the web reads, one the workers read."""

    def __init__(self, root: Path) -> None:
        self.directories = {WEB: root / WEB, WORKER: root / WORKER}
        for directory in self.directories.values():
            directory.mkdir(parents=True, exist_ok=True)

    def environment(self, process: str) -> dict[str, str]:
        return {
            "PAYMENTS_FAILPOINT_DIR": str(self.directories[process]),
            "PAYMENTS_FAILPOINT_KILL": "group" if process == WORKER else "process",
        }

    def arm(self, cell: Cell) -> None:
        (self.directories[cell.process] / cell.step).touch()

    def disarm(self, cell: Cell) -> None:
        (self.directories[cell.process] / cell.step).unlink(missing_ok=True)

    def wait_for_crash(self, cell: Cell, timeout: float) -> dict[str, Any] | None:
        """What the dying process wrote in its marker, or None if nobody reached the step."""
        marker = self.directories[cell.process] / (cell.step + failpoints.CRASHED_SUFFIX)
        if not _wait(lambda: marker.exists() and marker.stat().st_size > 0, timeout):
            return None
        crash: dict[str, Any] = json.loads(marker.read_text())
        return crash


def run_matrix(stack: ChaosStack, arming: Arming, cells: list[Cell]) -> list[dict[str, Any]]:
    stack.send_webhooks_to_web()
    rows = []
    for cell in cells:
        row = run_cell(stack, arming, cell, order=CELLS.index(cell))
        write_row(row)
        print(f"matrix {row['cell']}: {row['outcome']} ({row['seconds_to_recover']:.1f} s)")
        rows.append(row)
    return rows


def run_cell(stack: ChaosStack, arming: Arming, cell: Cell, *, order: int) -> dict[str, Any]:
    stack.wait_workers_ready(timeout=120)
    client, api_key = services.create_api_client(name=f"matrix {cell.name}")
    report = ChaosReport(scenario=cell.name, load_started_at=time.time())
    arming.arm(cell)
    load = LoadGenerator(
        stack.web_url, api_key, count=PAYMENTS_PER_CELL, threads=3, seed=order
    ).run(give_up_after=CLIENT_GIVE_UP_SECONDS)
    report.submitted = load.submitted
    refunds = RefundRequests()
    if cell.load == REFUNDS:
        # The charges are settled (and checked) first: the crash is on the refund path.
        wait_until_final(client, SETTLE_SECONDS)
        check(report, client, load.accepted, stack.ledger(), stack.directory / "mail")
        refunds = request_refunds(stack.web_url, api_key, client)
    crash = arming.wait_for_crash(cell, CRASH_WAIT_SECONDS)
    arming.disarm(cell)
    killed, problems = restart_the_dead(stack, cell, crash) if crash else ("no one", [])
    if crash is None:
        problems.append("step not reached")
    wait_until_settled(client, SETTLE_SECONDS)
    recovered_in = time.time() - crash["at"] if crash else 0.0
    unapplied = events_left_unapplied(SETTLE_SECONDS)
    ledger = stack.ledger()
    if cell.load == PAYMENTS:
        check(report, client, load.accepted, ledger, stack.directory / "mail")
    refund_check = check_refunds(client, refunds, ledger, stack.directory / "mail")
    problems += report.violations()
    problems += [f"refunds {name}={n}" for name, n in refund_check.items() if n]
    problems += [f"webhook events unapplied={unapplied}"] if unapplied else []
    problems += ["payment requests given up"] if len(load.accepted) != load.submitted else []
    problems += ["refund requests given up"] if refunds.given_up else []
    return {
        "order": order,
        "cell": cell.name,
        "step": cell.step,
        "process": cell.process,
        "killed": killed,
        "payments": report.accepted,
        "refunds": len(refunds.accepted),
        "lost": report.lost + refund_check["lost"],
        "double_charges": report.double_charges + refund_check["double_charges"],
        "unfinished": report.not_final + refund_check["pending"] + unapplied,
        "email_problems": (
            report.missing_emails + report.duplicate_emails + refund_check["missing_emails"]
        ),
        "email_redeliveries": report.email_redeliveries,
        "seconds_to_recover": recovered_in,
        "violations": problems,
        "outcome": "ok" if not problems else "FAILED: " + ", ".join(problems),
    }


def restart_the_dead(stack: ChaosStack, cell: Cell, crash: dict[str, Any]) -> tuple[str, list[str]]:
    """Who died (for the table) and what is wrong with the death, after restarting them."""
    pid, group = crash["pid"], crash["pgid"]
    if cell.process == WEB:
        # The gunicorn master reaps its worker and forks a new one.
        gone = _wait(lambda: not Path(f"/proc/{pid}").exists(), 15)
        return f"gunicorn worker {pid}", [] if gone else [f"web process {pid} still alive"]
    for name, process in [*stack.workers.items(), *stack.beats.items()]:
        if process.pid == group:
            process.wait(timeout=30)
            if name in stack.workers:
                stack.restart_worker(name)
            else:
                stack.start_beat(name)
            killed = process.returncode == -signal.SIGKILL
            return f"{name} (pid {pid})", [] if killed else [f"{name} exit {process.returncode}"]
    return f"pid {pid}", [f"process group {group} is none of the stack's"]


# --- The refund load -------------------------------------------------------------------------


@dataclass
class RefundRequests:
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key → refund id
    given_up: int = 0


def request_refunds(web_url: str, api_key: str, client: ApiClient) -> RefundRequests:
    """Two partial refunds of a third each, at once, for every paid payment of the client."""
    paid = Payment.objects.filter(client=client, status=PaymentStatus.SUCCEEDED)
    jobs = [(str(payment.pk), payment.amount // 3) for payment in paid for _ in range(2)]
    requests_ = RefundRequests()
    with ThreadPoolExecutor(4) as pool:
        answers = pool.map(lambda job: _refund_until_answered(web_url, api_key, *job), jobs)
        for key, refund_id in answers:
            if refund_id:
                requests_.accepted[key] = refund_id
            else:
                requests_.given_up += 1
    return requests_


def _refund_until_answered(
    web_url: str, api_key: str, payment_id: str, amount: int
) -> tuple[str, str]:
    # A careful client: the same key on every retry, as the payments load does.
    key = f"matrix-refund-{uuid.uuid4()}"
    deadline = time.monotonic() + CLIENT_GIVE_UP_SECONDS
    while time.monotonic() < deadline:
        try:
            response = requests.post(
                f"{web_url}/api/v1/payments/{payment_id}/refunds",
                json={"amount": amount},
                headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": key},
                timeout=10,
            )
        except requests.RequestException:
            response = None
        if response is not None and response.status_code not in RETRYABLE_STATUSES:
            return key, str(response.json()["id"]) if response.status_code == 202 else ""
        time.sleep(0.3)
    return key, ""


# --- Waiting and checking --------------------------------------------------------------------


def wait_until_settled(client: ApiClient, timeout: float) -> bool:
    """Every payment and refund of the client final, its emails sent, every event applied."""

    def settled() -> bool:
        payments = Payment.objects.filter(client=client)
        refunds = Refund.objects.filter(payment__client=client)
        subjects = [f"payment:{pk}" for pk in payments.values_list("pk", flat=True)]
        subjects += [f"refund:{pk}" for pk in refunds.values_list("pk", flat=True)]
        return not (
            payments.filter(status__in=transitions.CHARGE_OWED).exists()
            or refunds.filter(status=RefundStatus.PENDING).exists()
            or Notification.objects.filter(subject__in=subjects)
            .exclude(status=NotificationStatus.SENT)
            .exists()
            or StripeEvent.objects.filter(status=StripeEventStatus.RECEIVED).exists()
        )

    return _wait(settled, timeout)


def events_left_unapplied(timeout: float) -> int:
    """Webhook events received until now and still not applied after `timeout`.

    The fake Stripe never stops delivering, and an event's received_at is stamped before
    its COMMIT: one can be in flight at any instant, so the question is whether the events
    seen so far all get applied, not whether none is waiting right now.
    """
    received = StripeEvent.objects.filter(
        status=StripeEventStatus.RECEIVED, received_at__lt=timezone.now()
    )
    _wait(lambda: not received.exists(), timeout)
    return received.count()


def check_refunds(
    client: ApiClient, requests_: RefundRequests, ledger: dict[str, Any], mail_dir: Path
) -> Counter[str]:
    """I1, I2, I4 and I5 for the client's refunds, here and at the fake Stripe's ledger."""
    problems: Counter[str] = Counter()
    payments = {str(p.pk): p for p in Payment.objects.filter(client=client)}
    refunds = list(Refund.objects.filter(payment__client=client))
    known = {str(refund.pk) for refund in refunds}
    problems["lost"] = sum(1 for pk in requests_.accepted.values() if pk not in known)
    problems["pending"] = sum(1 for refund in refunds if refund.status == RefundStatus.PENDING)
    charges = Counter(charge["metadata"].get("payment_id") for charge in ledger["charges"])
    problems["double_charges"] = sum(1 for pk in payments if charges[pk] > 1)
    at_stripe = Counter(entry["metadata"].get("refund_id") for entry in ledger["refunds"])
    refunded_at_stripe: Counter[str] = Counter()
    for entry in ledger["refunds"]:
        refunded_at_stripe[entry["metadata"].get("payment_id")] += entry["amount"]
    delivered = email_deliveries(mail_dir)
    for refund in refunds:
        succeeded = refund.status == RefundStatus.SUCCEEDED
        # Exactly one refund at Stripe for each one settled here, none for one that failed.
        problems["unlike_stripe"] += at_stripe[str(refund.pk)] != (1 if succeeded else 0)
        dedupe_key = Notification.dedupe_key_for(NotificationKind.REFUND, f"refund:{refund.pk}")
        emailed = (
            Notification.objects.filter(
                dedupe_key=dedupe_key, status=NotificationStatus.SENT
            ).exists()
            and f"<{dedupe_key.replace(':', '.')}@payments>" in delivered
        )
        problems["missing_emails"] += succeeded and not emailed
    for pk, payment in payments.items():
        settled = sum(
            r.amount
            for r in refunds
            if str(r.payment_id) == pk and r.status == RefundStatus.SUCCEEDED
        )
        problems["more_than_charged"] += max(settled, refunded_at_stripe[pk]) > payment.amount
        if problems["pending"]:
            continue  # a pending refund holds its reservation; reported above
        # The reservation equals what was settled: failed refunds gave theirs back.
        problems["totals_disagree"] += payment.amount_refunded != settled
        if settled:
            whole = settled == payment.amount
            status = PaymentStatus.REFUNDED if whole else PaymentStatus.PARTIALLY_REFUNDED
            problems["wrong_payment_status"] += payment.status != status
    return problems


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.3)
    return True
