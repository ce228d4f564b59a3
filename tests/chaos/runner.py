"""Run one scenario: load through the API while a nemesis injects faults, then check."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection

from payments import services
from tests.chaos.checker import ChaosReport, check, wait_until_final
from tests.chaos.load import BacklogBound, LoadGenerator
from tests.chaos.refund_load import RefundLoad
from tests.chaos.stack import TEST_PROCESS_APPLICATION_NAME, ChaosStack
from tests.chaos.table import REPORT_DIR, format_table

Nemesis = Callable[[ChaosStack, "FaultLog"], None]
# Payments the load keeps unfinished at most. Two workers finish about ten a second with
# refunds, webhooks and emails on this machine's two cores: forty wait about four seconds,
# inside the 8 s sweeper threshold, so a re-drive means a fault, not a queue. A fault that
# stops the workers fills the bound; the API then takes the payments already on their way.
MAX_UNFINISHED = 40


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
    """`count` payments at least: the load goes on until the nemesis has healed everything."""
    with connection.cursor() as cursor:
        cursor.execute("SET application_name TO %s", [TEST_PROCESS_APPLICATION_NAME])
    client, api_key = services.create_api_client(name=f"chaos-{name}")
    report = ChaosReport(scenario=name, load_started_at=time.time())
    refunds = RefundLoad(stack.web_url, api_key)
    load = LoadGenerator(stack.web_url, api_key, count=count, on_accepted=refunds)
    healed = threading.Event()
    refunds.start()
    with BacklogBound(client, MAX_UNFINISHED) as backlog:
        loader = threading.Thread(
            target=load.run, kwargs={"until": healed, "may_send": backlog.may_send}
        )
        loader.start()
        # The first requests wait for cold web processes (seconds on a busy machine): a
        # fault before the first payments are in would hit an idle service, proving nothing.
        _wait_for_accepted(load, at_least=max(1, min(20, count // 10)))
        time.sleep(1.0)
        try:
            nemesis(stack, FaultLog(report))
        finally:
            healed.set()
            loader.join()
            refund_result = refunds.finish()
    report.submitted = load.result.submitted
    report.client_retries = load.result.client_retries + refund_result.client_retries
    report.concurrent_duplicates = load.result.concurrent_duplicates
    healed_at = max([end for _, end in report.fault_windows] + [load.result.finished_at])
    wait_until_final(
        client, drain_timeout, webhooks_pending=stack.webhooks_pending if stack.webhooks else None
    )
    check(
        report,
        client,
        load.result.accepted,
        stack.ledger(),
        stack.directory / "mail",
        refunds=refund_result,
        webhook_deliveries=stack.webhook_deliveries() if stack.webhooks else None,
        clock=stack.clock,
    )
    report.seconds_to_drain = max(0.0, (report.completions or [healed_at])[-1] - healed_at)
    _write(report)
    return report


def _wait_for_accepted(load: LoadGenerator, at_least: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(load.result.accepted) < at_least and time.monotonic() < deadline:
        time.sleep(0.1)


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
