"""One beat dispatches at a time: real beat processes, a real PostgreSQL advisory lock."""

import os
import signal
import socket
import time
from types import SimpleNamespace

import pytest
from django.db import OperationalError
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from config import beat
from tests import processes


def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def wait_for_leader(timeout: float = 30.0, not_this: str | None = None) -> tuple[str, float]:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        leader = beat.current_leader()
        if leader and leader != not_this:
            return leader, time.monotonic() - started
        time.sleep(0.1)
    raise TimeoutError("no beat took the leader lock")


def test_one_of_two_beats_leads_and_a_standby_takes_over_when_it_is_killed(
    transactional_db, private_broker, tmp_path
):
    env = processes.test_environment(private_broker)
    beats = {name: processes.celery_beat(name, env, tmp_path) for name in ("beat-a", "beat-b")}
    try:
        leader, _ = wait_for_leader()
        pids = {str(process.pid): name for name, process in beats.items()}
        leader_name = pids[leader.rsplit(":", 1)[1]]
        leader_log = tmp_path / f"{leader_name}.log"
        wait_until(lambda: "Sending due task relay-outbox" in leader_log.read_text())
        assert beat.current_leader() == leader

        os.kill(beats[leader_name].pid, signal.SIGKILL)
        new_leader, takeover_seconds = wait_for_leader(timeout=15, not_this=leader)

        standby = next(name for name in beats if name != leader_name)
        assert new_leader.endswith(f":{beats[standby].pid}")
        assert takeover_seconds < 10
        standby_log = (tmp_path / f"{standby}.log").read_text()
        before_leading, _, after = standby_log.partition("became the leader")
        assert after, "the standby logged its takeover"
        assert "Sending due task" not in before_leading, "a standby dispatches nothing"

    finally:
        for process in beats.values():
            processes.stop(process)


def test_the_lock_connection_asks_both_ends_for_keepalives(db):
    lock_connection = beat._leader_connection()
    try:
        server = [
            lock_connection.execute(f"SHOW {name}").fetchone()[0]
            for name in (
                "tcp_keepalives_idle",
                "tcp_keepalives_interval",
                "tcp_keepalives_count",
                "tcp_user_timeout",
            )
        ]
        # PostgreSQL reads these back from its socket, so they are really set there.
        assert server == ["5", "2", "3", "10000"]
        client = socket.socket(fileno=os.dup(lock_connection.fileno()))
        try:
            assert client.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert [
                client.getsockopt(socket.IPPROTO_TCP, option)
                for option in (
                    socket.TCP_KEEPIDLE,
                    socket.TCP_KEEPINTVL,
                    socket.TCP_KEEPCNT,
                    socket.TCP_USER_TIMEOUT,
                )
            ] == [5, 2, 3, 10000]
        finally:
            client.close()
    finally:
        lock_connection.close()


@pytest.fixture
def relay_task(db):
    every_five = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(
        name="relay-outbox", task="outbox.relay_outbox", interval=every_five
    )


def test_a_tick_is_claimed_once_per_period_even_by_two_leaders(relay_task):
    period_start = 1_700_000_000.0  # a multiple of 5

    assert beat.claim_tick("relay-outbox", 5, now=period_start + 1)
    assert not beat.claim_tick("relay-outbox", 5, now=period_start + 2)
    assert not beat.claim_tick("relay-outbox", 5, now=period_start + 4.9)
    assert beat.claim_tick("relay-outbox", 5, now=period_start + 5.1)


def test_a_tick_that_cannot_be_claimed_is_not_sent(monkeypatch, caplog):
    def database_gone(*args):
        raise OperationalError("server closed the connection unexpectedly")

    sent = []
    monkeypatch.setattr(beat, "claim_tick", database_gone)
    monkeypatch.setattr(DatabaseScheduler, "apply_entry", lambda *args, **kwargs: sent.append(1))
    scheduler = beat.LeaderDatabaseScheduler.__new__(beat.LeaderDatabaseScheduler)
    entry = SimpleNamespace(name="relay-outbox", schedule=SimpleNamespace(run_every=None))

    scheduler.apply_entry(entry)

    assert sent == []
    assert "could not claim relay-outbox (OperationalError); not sent" in caplog.text
