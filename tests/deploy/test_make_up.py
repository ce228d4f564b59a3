"""`make up` survives kill -9 of any one of its processes, repeatedly, under load (issue 9)."""

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from payments import services
from tests import processes
from tests.chaos.checker import ChaosReport, check, wait_until_final
from tests.chaos.load import LoadGenerator
from tests.chaos.table import REPORT_DIR
from tests.deploy.make_up import PROGRAMS, MakeUp, make_up

# Every process once, then the ones that hold work in flight once more.
KILLS = (*PROGRAMS, "worker1", "web2", "redis")
# Two clients, each paying every half second: more than the two workers finish on two
# cores would only test the drain, not the kills.
LOAD_CLIENTS = 2
PAUSE_BETWEEN_PAYMENTS = 0.5
# After each restart the API must take this many new payments before the next kill.
ACCEPTED_BETWEEN_KILLS = 3


@dataclass
class Kill:
    program: str
    old_pid: int
    new_pid: int = 0
    seconds_to_restart: float = 0.0
    accepted_meanwhile: int = 0
    api_errors: str = ""


def wait_for_accepted(load: LoadGenerator, at_least: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(load.result.accepted) < at_least:
        assert time.monotonic() < deadline, f"the API took no payment for {timeout} s"
        time.sleep(0.1)


def kill_and_wait(stack: MakeUp, program: str, load: LoadGenerator) -> Kill:
    kill = Kill(program, stack.pid(program))
    accepted_before = len(load.result.accepted)
    errors_before = load.result.errors.copy()
    started = time.monotonic()
    os.kill(kill.old_pid, signal.SIGKILL)
    kill.new_pid = stack.wait_restarted(program, kill.old_pid)
    kill.seconds_to_restart = time.monotonic() - started
    wait_for_accepted(load, len(load.result.accepted) + ACCEPTED_BETWEEN_KILLS)
    kill.accepted_meanwhile = len(load.result.accepted) - accepted_before
    kill.api_errors = ", ".join(
        f"{kind}: {n}" for kind, n in sorted((load.result.errors - errors_before).items())
    )
    return kill


def write_report(kills: list[Kill], report: ChaosReport, load: LoadGenerator) -> Path:
    lines = [
        "# kill -9 of each `make up` process under load",
        "",
        "| process | old pid | new pid | restarted in | payments accepted meanwhile | "
        "answers that made a client retry (409: a concurrent duplicate in flight) |",
        "| --- | --- | --- | --- | --- | --- |",
        *(
            f"| {k.program} | {k.old_pid} | {k.new_pid} | {k.seconds_to_restart:.1f} s | "
            f"{k.accepted_meanwhile} | {k.api_errors or 'none'} |"
            for k in kills
        ),
        "",
        f"payments submitted {report.submitted}, accepted {report.accepted}, "
        f"lost {report.lost}, not final {report.not_final}, double charges "
        f"{report.double_charges}, missing emails {report.missing_emails}, client retries "
        f"{report.client_retries}, requests {load.result.requests_sent}",
    ]
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORT_DIR / "make-up-kill9.md"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.integration
def test_kill_9_of_any_make_up_process_loses_no_payment_and_the_api_keeps_answering(
    transactional_db, tmp_path
):
    database_url = processes.test_environment("")["DATABASE_URL"]
    with make_up(tmp_path / "var", database_url) as stack:
        client, api_key = services.create_api_client(name="make-up")
        load = LoadGenerator(stack.web_url, api_key, count=0, threads=LOAD_CLIENTS)
        stop = threading.Event()
        loader = threading.Thread(
            target=load.run_until, args=(stop,), kwargs={"pause": PAUSE_BETWEEN_PAYMENTS}
        )
        loader.start()
        try:
            wait_for_accepted(load, ACCEPTED_BETWEEN_KILLS)
            kills = [kill_and_wait(stack, program, load) for program in KILLS]
        finally:
            stop.set()
            loader.join()
        wait_until_final(client, timeout=60)
        report = check(
            ChaosReport(scenario="make-up-kill9", submitted=load.result.submitted),
            client,
            load.result.accepted,
            requests.get(f"{stack.stripe_url}/_fake/ledger", timeout=30).json(),
            stack.var_dir / "mail",
        )
        report.client_retries = load.result.client_retries
        print(write_report(kills, report, load).read_text())  # the numbers for the closing note
        every_pid = stack.all_pids()

        exit_status = stack.interrupt()

    assert report.violations() == []
    assert report.accepted == load.result.submitted  # no client gave up
    # The API kept answering: never a 5xx; a connection cut by a dying web process is retried.
    assert [kind for kind in load.result.errors if kind.startswith("5")] == []
    assert [kill.program for kill in kills if kill.new_pid == kill.old_pid] == []
    # Ctrl-C stopped supervisord cleanly, and with it every process it had started.
    assert exit_status == 0
    assert [pid for pid in every_pid if Path(f"/proc/{pid}").exists()] == []
