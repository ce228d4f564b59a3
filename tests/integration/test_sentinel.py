"""Redis Sentinel URLs: the worker and the publisher find the master through Sentinel."""

import time

import pytest
from kombu import Connection

from config.celery import app as celery_app
from tests import processes
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration


def test_a_task_travels_through_a_sentinel_monitored_master(transactional_db, tmp_path):
    with processes.redis_server(tmp_path) as master_url:
        master_port = master_url.rsplit(":", 1)[1].split("/")[0]
        sentinel_port = processes.free_port()
        (tmp_path / "sentinel.conf").write_text(
            f"port {sentinel_port}\nbind 127.0.0.1\n"
            f"sentinel monitor payments 127.0.0.1 {master_port} 1\n"
        )
        sentinel = processes.spawn(
            ["redis-server", str(tmp_path / "sentinel.conf"), "--sentinel"],
            tmp_path / "sentinel.log",
        )
        worker = None
        try:
            processes.wait_for_port(sentinel_port, sentinel)
            broker_url = f"sentinel://127.0.0.1:{sentinel_port}/0"
            env = {
                **processes.test_environment(broker_url),
                "CELERY_SENTINEL_MASTER": "payments",
            }
            worker = processes.celery_worker("sentinel-worker", env, tmp_path)
            log = tmp_path / "sentinel-worker.log"
            wait_for(lambda: log.exists() and "ready." in log.read_text(), timeout=60)

            options = {"master_name": "payments"}
            with Connection(broker_url, transport_options=options) as connection:
                sent = celery_app.send_task(
                    "payments.expire_idempotency_records", connection=connection
                )

            wait_for(lambda: f"{sent.id}] succeeded" in log.read_text(), timeout=60)
            time.sleep(0.5)
            assert "Connected to sentinel://" in log.read_text()
        finally:
            if worker is not None:
                processes.stop(worker)
            processes.stop(sentinel)
