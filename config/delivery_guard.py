"""A delivery limit for Redis, which has none: a message that keeps killing workers is parked.

acks_late + reject_on_worker_lost puts a task back when its worker dies, which is what
saves a payment when a worker is killed, and loops forever on a message that itself
kills the worker. RabbitMQ's quorum queues count deliveries (config/queues.py); on Redis
this base task counts them in the broker before the task body runs and, past the
limit, rejects the message into the `dead_letters` list instead of running it again.
"""

import json
import logging
from functools import cache
from typing import Any

import redis
from celery import Task
from celery.exceptions import Reject

from config.queues import DEAD_LETTER_QUEUE, DELIVERY_LIMIT

logger = logging.getLogger(__name__)

COUNTER_TTL_SECONDS = 24 * 3600


@cache
def _redis_for(broker_url: str) -> redis.Redis | None:
    if not broker_url.startswith(("redis://", "rediss://")):
        return None  # RabbitMQ counts deliveries itself; Sentinel URLs are left unguarded
    return redis.Redis.from_url(broker_url, socket_timeout=5, socket_connect_timeout=5)


class BoundedDeliveryTask(Task):  # type: ignore[type-arg]
    """Base task: at most DELIVERY_LIMIT deliveries of one message."""

    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        client = _redis_for(str(self.app.conf.broker_url))
        if client is None:
            return
        # Every attempt is a message of its own (a retry is published anew from the
        # database, config/retries.py): its id counts its deliveries.
        key = f"payments:deliveries:{task_id}"
        try:
            deliveries = int(client.incr(key))
            client.expire(key, COUNTER_TTL_SECONDS)
        except redis.RedisError:
            return  # without the broker the message cannot be acked either; run it
        if deliveries <= DELIVERY_LIMIT:
            return
        client.lpush(
            DEAD_LETTER_QUEUE.name,
            json.dumps({"task": self.name, "id": task_id, "args": args, "deliveries": deliveries}),
        )
        logger.error(
            "%s[%s] delivered %d times (limit %d): moved to %s",
            self.name, task_id, deliveries, DELIVERY_LIMIT, DEAD_LETTER_QUEUE.name,
        )  # fmt: skip
        raise Reject(f"delivered {deliveries} times", requeue=False)
