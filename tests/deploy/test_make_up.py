"""`make up` survives kill -9 of any one of its processes, repeatedly, under load (issue 9)."""

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import requests

from payments import services
from tests import processes
from tests.chaos.checker import ChaosReport, check, wait_until_final
from tests.chaos.load import BacklogBound, LoadGenerator
from tests.chaos.table import REPORT_DIR
from tests.deploy.make_up import PROGRAMS, MakeUp, make_up

# Every process once, then a charge worker and a web process, which hold work in flight,
# again.
KILLS = (*PROGRAMS, "charges1", "web2")
# Two clients, each paying about once a second, and holding back while more than
# MAX_UNFINISHED payments wait for a worker: more than two workers finish on two shared
# cores would only test the drain, not the kills.
LOAD_CLIENTS = 2
PAUSE_BETWEEN_PAYMENTS = 1.0
MAX_UNFINISHED = 8
# After each restart the API must take this many new payments before the next kill.
ACCEPTED_BETWEEN_KILLS = 2
# Whose sibling is killed next, or who carries the load: the next kill waits until it is
# back at work, so no two of them are ever down at once. The others are only waited for
# until supervisord runs them again; every process must serve again at the end.
WAIT_UNTIL_SERVING = {"redis", "web1", "web2", "worker1", "worker2", "charges1", "charges2"}


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
    kill.new_pid = stack.wait_restarted(
        program, kill.old_pid, serving=program in WAIT_UNTIL_SERVING
    )
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
# About 100 s alone; the margin is for a machine shared with other test sessions.
@pytest.mark.timeout(600)
def test_kill_9_of_any_make_up_process_loses_no_payment_and_the_api_keeps_answering(
    transactional_db, tmp_path
):
    database_url = processes.test_environment("")["DATABASE_URL"]
    with make_up(tmp_path / "var", database_url) as stack:
        broker = redis.Redis(port=stack.port("REDIS_PORT"), decode_responses=True)
        redis_config = broker.config_get("*")
        client, api_key = services.create_api_client(name="make-up")
        load = LoadGenerator(stack.web_url, api_key, count=0, threads=LOAD_CLIENTS)
        stop = threading.Event()
        with BacklogBound(client, MAX_UNFINISHED) as backlog:
            loader = threading.Thread(
                target=load.run_until,
                args=(stop,),
                kwargs={"pause": PAUSE_BETWEEN_PAYMENTS, "may_send": backlog.may_send},
            )
            loader.start()
            try:
                wait_for_accepted(load, ACCEPTED_BETWEEN_KILLS)
                kills = [kill_and_wait(stack, program, load) for program in KILLS]
            finally:
                stop.set()
                loader.join()
        stack.wait_serving()
        wait_until_final(client, timeout=180)
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

    # The stack's own Redis keeps its queue across a kill (DESIGN.md's broker settings).
    assert {
        key: redis_config[key] for key in ("appendonly", "appendfsync", "maxmemory-policy")
    } == {
        "appendonly": "yes",
        "appendfsync": "everysec",
        "maxmemory-policy": "noeviction",
    }
    assert int(redis_config["maxmemory"]) > 0
    assert redis_config["dir"] == str(tmp_path / "var" / "redis")
    assert report.violations() == []
    assert report.accepted == load.result.submitted  # no client gave up
    # The API kept answering: never a 5xx; a connection cut by a dying web process is retried.
    assert [kind for kind in load.result.errors if kind.startswith("5")] == []
    assert [kill.program for kill in kills if kill.new_pid == kill.old_pid] == []
    # Ctrl-C stopped supervisord cleanly, and with it every process it had started.
    assert exit_status == 0
    assert [pid for pid in every_pid if Path(f"/proc/{pid}").exists()] == []
