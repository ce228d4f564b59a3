"""Run one scenario: load through the API while a nemesis injects faults, then check."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection

from payments import services
from tests.chaos.checker import ChaosReport, check, wait_until_final
from tests.chaos.load import LoadGenerator
from tests.chaos.stack import TEST_PROCESS_APPLICATION_NAME, ChaosStack
from tests.chaos.table import REPORT_DIR, format_table

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
