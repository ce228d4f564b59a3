"""The disaster-recovery drill: back up mid-load, lose the region, rebuild it from the backup.

Region 1 (its own PostgreSQL, Redis, workers, beat, web) takes the chaos load; a pg_dump
is taken halfway; the load goes on (what it accepts after the dump is the recovery
point's loss); then every process of the region is killed -9 and its broker thrown away.
Region 2 starts empty: a fresh PostgreSQL restored from the dump, a fresh Redis, fresh
workers, and `payments_replay` (run twice: it must be harmless to repeat) re-drives the
unfinished work. The fake Stripe is the outside world: its journal survives the region.
"""

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from payments import services
from payments.models import ApiClient, Payment
from tests.chaos.checker import ChaosReport, check, wait_until_final
from tests.chaos.clusters.postgres import PostgresCluster, dump_database
from tests.chaos.drills import DrillMeasures, checker_reads_from, manage, record
from tests.chaos.load import LoadGenerator
from tests.chaos.stack import ChaosStack, running_stack
from tests.chaos.table import REPORT_DIR

SCENARIO = "drill_disaster_recovery"


@dataclass
class Recovery:
    report: ChaosReport
    row: dict[str, object]
    # Payments Stripe has that the restored database does not, as reconciliation lists them.
    missing_locally: int


def run_disaster_recovery(directory: Path, seed_sql: str, count: int) -> Recovery:
    database = str(connection.settings_dict["NAME"])
    region1 = PostgresCluster(database=database, standbys=0, synchronous=False)
    region2 = PostgresCluster(database=database, standbys=0, synchronous=False)
    report = ChaosReport(scenario=SCENARIO)
    # A row of an earlier run would be merged into: this drill writes its own from scratch.
    (REPORT_DIR / f"{SCENARIO}.json").unlink(missing_ok=True)
    measures = DrillMeasures()
    try:
        region1.start(seed_sql=seed_sql)
        with checker_reads_from(region1.django_settings()):
            backup, load = _region_one(directory, region1, report, count)
        lost_at, lost_at_wall = time.monotonic(), time.time()
        region1.stop()  # its data directory goes with it: the region is gone
        report.faults.append("region 1 lost: every process kill -9, broker and database gone")

        region2.start(seed_sql=backup)
        _throw_away_region(directory, "region1")
        with (
            checker_reads_from(region2.django_settings()),
            running_stack(directory, cluster_env={"DATABASE_URL": region2.url}) as stack,
        ):
            measures.seconds_without_leader = time.monotonic() - lost_at
            for _ in range(2):  # the second run must change nothing
                manage(stack, "payments_replay", "--since", "2000-01-01T00:00:00Z")
            client = ApiClient.objects.get(name=f"chaos-{SCENARIO}")
            wait_until_final(client, 240)
            recovery_seconds = time.monotonic() - lost_at
            report.fault_windows.append((lost_at_wall, time.time()))  # the plot's red band
            ledger = stack.ledger()
            check(report, client, load.result.accepted, ledger, directory / "mail")
            missing_locally = _missing_locally(stack)
            restored = {str(pk) for pk in Payment.objects.values_list("pk", flat=True)}
            # Money Stripe took for payments the backup does not know: a person's work.
            charged_but_lost = sum(
                1
                for charge in ledger["charges"]
                if charge["metadata"].get("payment_id") in set(load.result.accepted.values())
                and charge["metadata"].get("payment_id") not in restored
            )
            row = record(
                report,
                measures,
                rto_seconds=round(recovery_seconds, 1),
                rpo_payments=report.lost,
                missing_locally=missing_locally,
                charged_but_lost=charged_but_lost,
            )
        return Recovery(report, row, missing_locally)
    finally:
        region1.stop()
        region2.stop()


def _region_one(
    directory: Path, region: PostgresCluster, report: ChaosReport, count: int
) -> tuple[str, LoadGenerator]:
    with running_stack(directory, cluster_env={"DATABASE_URL": region.url}) as stack:
        _, api_key = services.create_api_client(name=f"chaos-{SCENARIO}")
        report.load_started_at = time.time()
        load = LoadGenerator(stack.web_url, api_key, count=count)
        loader = threading.Thread(target=load.run)
        loader.start()
        while len(load.result.accepted) < count // 2 and loader.is_alive():
            time.sleep(0.2)
        started = time.time()
        backup = dump_database(region.primary().dsn(region.database))
        report.faults.append(f"pg_dump after {len(load.result.accepted)} accepted payments")
        report.fault_windows.append((started, time.time()))
        in_backup_at_most = set(load.result.accepted.values())
        loader.join()
        # The region dies once it has charged some of what the backup lacks: otherwise a
        # quick load leaves them all queued, and reconciliation has nothing to find.
        _wait_until_charged(stack, set(load.result.accepted.values()) - in_backup_at_most)
        report.submitted = load.result.submitted
        report.client_retries = load.result.client_retries
        report.concurrent_duplicates = load.result.concurrent_duplicates
        # The disaster: no process of the region gets to finish what it was doing.
        for name in list(stack.workers):
            stack.kill_worker(name)
        for name in list(stack.beats):
            stack.kill_beat(name)
        stack.kill_redis()
        region.primary().kill()
    return backup, load


def _wait_until_charged(stack: ChaosStack, payment_ids: set[str], timeout: float = 60) -> None:
    """Until the fake Stripe charged a tenth of `payment_ids` (or `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        charged = {charge["metadata"].get("payment_id") for charge in stack.ledger()["charges"]}
        if len(charged & payment_ids) >= max(1, len(payment_ids) // 10):
            return
        time.sleep(0.5)


def _throw_away_region(directory: Path, region: str) -> None:
    """Region 1's broker data goes (region 2's Redis must start empty); its logs are kept
    aside, since region 2's processes log under the same names and readiness checks read
    them. The fake Stripe's journal stays: Stripe is not in the region."""
    shutil.rmtree(directory / "appendonlydir", ignore_errors=True)
    aside = directory / f"{region}-logs"
    aside.mkdir(exist_ok=True)
    for log in directory.glob("*.log"):
        shutil.move(log, aside / log.name)


def _missing_locally(stack: ChaosStack) -> int:
    """Payments reconciliation lists as at Stripe and not here (distinct payment ids).

    Counted from the mismatch table (kind, payment, stripe id, here, at Stripe, fixed),
    not the summary, which counts rows: one payment can appear on several rows.
    """
    output = manage(stack, "payments_reconcile", "--since", "1h")
    payment_ids = {
        parts[1]
        for line in output.splitlines()
        if (parts := line.split()) and parts[0] == "missing_locally" and len(parts) >= 5
    }
    return len(payment_ids)
