"""Redis has no delivery limit: the BoundedDeliveryTask base gives it one."""

import json
import time

import pytest
import redis
from kombu import Connection

from config.celery import app as celery_app
from config.queues import DELIVERY_LIMIT
from tests import processes
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration


def test_a_worker_killing_message_is_parked_after_the_limit_and_others_still_run(
    transactional_db, tmp_path
):
    with processes.redis_server(tmp_path) as broker_url:
        env = processes.test_environment(broker_url)
        worker = processes.celery_worker(
            "poisoned", env, tmp_path, extra_args=("--include", "tests.integration.poison")
        )
        log = tmp_path / "poisoned.log"
        try:
            wait_for(lambda: log.exists() and "ready." in log.read_text(), timeout=60)
            with Connection(broker_url) as connection:
                poison = celery_app.send_task(
                    "chaos.poison", queue="maintenance", connection=connection
                )
                healthy = celery_app.send_task(
                    "payments.expire_idempotency_records",
                    queue="maintenance",
                    connection=connection,
                )

            def dead_letters() -> list[dict[str, object]]:
                raw = redis.Redis.from_url(broker_url).lrange("dead_letters", 0, -1)
                return [json.loads(item) for item in raw]

            parked = wait_for(dead_letters, timeout=120)
            assert [(p["task"], p["id"], p["deliveries"]) for p in parked] == [
                ("chaos.poison", poison.id, DELIVERY_LIMIT + 1)
            ]
            wait_for(lambda: f"{healthy.id}] succeeded" in log.read_text(), timeout=60)
            time.sleep(2)
            assert log.read_text().count(f"chaos.poison[{poison.id}] received") == (
                DELIVERY_LIMIT + 1
            )
        finally:
            processes.stop(worker)
