"""Probes: /healthz, /readyz as the database and the broker go down and come back; worker_alive."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db.migrations.executor import MigrationExecutor

from config import health
from tests import processes
from tests.integration.conftest import wait_for
from tests.observability.conftest import gunicorn, stack_environment
from tests.observability.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


def probe(url: str) -> tuple[int, dict[str, object]]:
    response = requests.get(url, timeout=10)
    return response.status_code, response.json()


def redis_on(port: int, directory: Path) -> subprocess.Popen[bytes]:
    process = processes.spawn(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        directory / "redis.log",
    )
    processes.wait_for_port(port, process)
    return process


@pytest.fixture
def web_behind_a_proxy(django_db_setup, tmp_path):
    """gunicorn whose database is reached through a proxy and whose broker is our own Redis."""
    database = settings.DATABASES["default"]
    proxy = TcpProxy(int(database["PORT"] or 5432))
    proxy.start()
    broker_port = processes.free_port()
    broker = redis_on(broker_port, tmp_path)
    env = stack_environment(tmp_path, f"redis://127.0.0.1:{broker_port}/0", "http://127.0.0.1:9")
    env["DATABASE_URL"] = f"postgres://{database['USER']}@127.0.0.1:{proxy.port}/{database['NAME']}"
    state = {"broker": broker}
    try:
        with gunicorn(env, tmp_path) as web_url:
            yield web_url, proxy, broker_port, state
    finally:
        proxy.cut()
        processes.stop(state["broker"])


def test_readyz_follows_the_database_and_the_broker(web_behind_a_proxy, tmp_path):
    web_url, proxy, broker_port, state = web_behind_a_proxy
    readyz, healthz = f"{web_url}/readyz", f"{web_url}/healthz"
    all_ok = {"database": True, "broker": True, "migrations": True}
    # A fresh worker's first probe loads the migration graph and opens its connections
    # within READINESS_TIMEOUT_SECONDS; on a busy machine it may not: wait until ready.
    wait_for(lambda: all(probe(readyz)[0] == 200 for _ in range(6)), timeout=30)
    assert probe(readyz) == (200, {"status": "ok", "checks": all_ok})

    processes.stop(state["broker"])
    status, body = probe(readyz)
    assert (status, body["checks"]) == (503, {**all_ok, "broker": False})
    assert probe(healthz) == (200, {"status": "ok"})  # alive, just not ready

    state["broker"] = redis_on(broker_port, tmp_path)
    assert probe(readyz) == (200, {"status": "ok", "checks": all_ok})

    proxy.cut()
    status, body = probe(readyz)
    assert (status, body["checks"]) == (
        503,
        {"database": False, "broker": True, "migrations": False},
    )
    assert probe(healthz) == (200, {"status": "ok"})

    proxy.start()
    # Both gunicorn workers must find their way back: ask until several answers agree.
    wait_for(lambda: all(probe(readyz)[0] == 200 for _ in range(6)), timeout=20)


def test_readyz_is_unavailable_while_migrations_are_pending(client, db, monkeypatch):
    monkeypatch.setattr(health, "_migrations_known_applied", False)
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: ["0099_new"])

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] is False


def worker_alive(heartbeat: Path, max_age: float = 3.0) -> int:
    return subprocess.run(
        [
            str(processes.BIN / "python"),
            "manage.py",
            "worker_alive",
            "--file",
            str(heartbeat),
            "--max-age",
            str(max_age),
        ],
        cwd=processes.PROJECT_ROOT,
        capture_output=True,
        timeout=60,
    ).returncode


def test_worker_alive_follows_the_consumer(django_db_setup, tmp_path):
    broker_port = processes.free_port()
    broker = redis_on(broker_port, tmp_path)
    heartbeat = tmp_path / "liveness" / "worker.alive"
    env = {
        **stack_environment(tmp_path, f"redis://127.0.0.1:{broker_port}/0", "http://127.0.0.1:9"),
        "CELERY_WORKER_HEARTBEAT_FILE": str(heartbeat),
        "CELERY_WORKER_HEARTBEAT_INTERVAL_SECONDS": "0.5",
    }
    worker = processes.celery_worker("liveness", env, tmp_path, concurrency=1)
    try:
        wait_for(heartbeat.exists, timeout=60)
        assert worker_alive(heartbeat) == 0

        os.killpg(worker.pid, signal.SIGSTOP)  # a hung worker: nothing refreshes the file
        try:
            time.sleep(3.5)
            assert worker_alive(heartbeat) == 1
        finally:
            os.killpg(worker.pid, signal.SIGCONT)
        wait_for(lambda: worker_alive(heartbeat) == 0, timeout=30)

        processes.stop(worker)
        assert not heartbeat.exists()
        assert worker_alive(heartbeat) == 1
    finally:
        processes.stop(worker)
        processes.stop(broker)
