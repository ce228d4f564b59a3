"""Run one scenario: load through the API while a nemesis injects faults, then check."""

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from payments import services
from tests.chaos.checker import ChaosReport, check, wait_until_final
from tests.chaos.load import LoadGenerator
from tests.chaos.stack import TEST_PROCESS_APPLICATION_NAME, ChaosStack

REPORT_DIR = Path(os.environ.get("CHAOS_REPORT_DIR", "reports/chaos"))
Nemesis = Callable[[ChaosStack, "FaultLog"], None]


class FaultLog:
    """What the nemesis did and when, for the report and the plot."""

    def __init__(self, report: ChaosReport) -> None:
        self.report = report

    @contextmanager
    def window(self, description: str) -> Iterator[None]:
        started = time.time()
        self.report.faults.append(description)
        try:
            yield
        finally:
            self.report.fault_windows.append((started, time.time()))


def run_scenario(
    name: str,
    stack: ChaosStack,
    nemesis: Nemesis,
    *,
    count: int,
    drain_timeout: float = 240.0,
) -> ChaosReport:
    with connection.cursor() as cursor:
        cursor.execute("SET application_name TO %s", [TEST_PROCESS_APPLICATION_NAME])
    client, api_key = services.create_api_client(name=f"chaos-{name}")
    report = ChaosReport(scenario=name, load_started_at=time.time())
    load = LoadGenerator(stack.web_url, api_key, count=count)
    loader = threading.Thread(target=load.run)
    loader.start()
    time.sleep(1.5)  # let the load reach steady state first
    nemesis(stack, FaultLog(report))
    loader.join()
    report.submitted = load.result.submitted
    report.client_retries = load.result.client_retries
    report.concurrent_duplicates = load.result.concurrent_duplicates
    healed_at = max([end for _, end in report.fault_windows] + [load.result.finished_at])
    wait_until_final(client, drain_timeout)
    check(report, client, load.result.accepted, stack.ledger(), stack.directory / "mail")
    report.seconds_to_drain = max(0.0, (report.completions or [healed_at])[-1] - healed_at)
    _write(report)
    return report


def _write(report: ChaosReport) -> None:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / f"{report.scenario}.json").write_text(
        json.dumps(
            {
                **report.as_row(),
                "completions": report.completions,
                "fault_windows": report.fault_windows,
            }
        )
    )
    print(format_table([report]))


COLUMNS = (
    ("scenario", "scenario"),
    ("submitted", "submitted"),
    ("accepted", "accepted"),
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("double_charges", "duplicates"),
    ("lost", "lost"),
    ("not_final", "unfinished"),
    ("missing_emails", "missing emails"),
    ("backward_events", "backward moves"),
    ("seconds_to_drain", "drain s"),
)


def format_table(reports: list[ChaosReport] | list[dict[str, object]]) -> str:
    rows = [
        [
            f"{value:.1f}" if isinstance(value, float) else str(value)
            for value in (
                (r[key] if isinstance(r, dict) else getattr(r, key)) for key, _ in COLUMNS
            )
        ]
        for r in reports
    ]
    header = [title for _, title in COLUMNS]
    widths = [max(len(x) for x in column) for column in zip(header, *rows, strict=False)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-|-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
