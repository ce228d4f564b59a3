"""What the broker holds: queue depth, oldest message age, unacked messages, memory."""

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import redis
import requests
from kombu import Connection
from redis.sentinel import Sentinel

from config import celery_app
from config.worker_observability import PUBLISHED_AT_HEADER

# kombu's Redis transport keeps each priority level in its own list named
# "<queue>\x06\x16<priority>" (priority 0 lives in "<queue>" itself); the default steps are
# 0, 3, 6, 9 but any 0..9 can be configured, so all of them are counted.
# https://docs.celeryq.dev/en/stable/userguide/routing.html#redis-message-priorities
REDIS_PRIORITY_SEPARATOR = "\x06\x16"
REDIS_PRIORITY_LEVELS = range(1, 10)
# kombu's Redis transport keeps delivered-but-unacked messages in this hash until the ack.
REDIS_UNACKED_HASH = "unacked"


@dataclass(frozen=True)
class QueueDepth:
    name: str
    ready: int
    # Seconds the oldest ready message has waited; None when empty or unknown (RabbitMQ).
    oldest_age_seconds: float | None
    consumers: int | None = None  # known on RabbitMQ only


@dataclass(frozen=True)
class BrokerMemory:
    used_bytes: int
    # 0 means no limit is configured (Redis maxmemory 0).
    max_bytes: int
    alarm: bool = False


class BrokerProbe(Protocol):
    kind: str

    def queue_depths(self, queues: Iterable[str]) -> list[QueueDepth]: ...

    def unacked_messages(self) -> int | None: ...

    def unacked_by_queue(self) -> dict[str, int] | None: ...

    def memory(self) -> BrokerMemory | None: ...


def _published_at(raw_message: bytes | None) -> float | None:
    if not raw_message:
        return None
    try:
        headers = json.loads(raw_message).get("headers") or {}
        return float(headers[PUBLISHED_AT_HEADER])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class RedisProbe:
    """Reads a kombu Redis broker directly; every call is a handful of O(1) commands."""

    kind = "redis"

    def __init__(self, url: str, timeout_seconds: float, *, master_name: str = "") -> None:
        if master_name:
            self._client = _sentinel_master(url, master_name, timeout_seconds)
        else:
            self._client = redis.Redis.from_url(
                url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
            )

    def _priority_keys(self, queue: str) -> list[str]:
        return [queue] + [f"{queue}{REDIS_PRIORITY_SEPARATOR}{p}" for p in REDIS_PRIORITY_LEVELS]

    def queue_depths(self, queues: Iterable[str]) -> list[QueueDepth]:
        names = list(queues)
        pipe = self._client.pipeline(transaction=False)
        for name in names:
            for key in self._priority_keys(name):
                pipe.llen(key)
                # kombu LPUSHes and RPOPs: the oldest message is the last element.
                pipe.lindex(key, -1)
        replies = pipe.execute()
        depths = []
        now = time.time()
        per_queue = 2 * (1 + len(REDIS_PRIORITY_LEVELS))
        for index, name in enumerate(names):
            chunk = replies[index * per_queue : (index + 1) * per_queue]
            lengths, tails = chunk[0::2], chunk[1::2]
            stamps = [s for s in (_published_at(tail) for tail in tails) if s is not None]
            oldest = max(0.0, now - min(stamps)) if stamps else None
            depths.append(QueueDepth(name, sum(int(n) for n in lengths), oldest))
        return depths

    def unacked_messages(self) -> int:
        return int(self._client.hlen(REDIS_UNACKED_HASH))

    def unacked_by_queue(self) -> dict[str, int]:
        """Delivered, unacknowledged messages per queue: running, or reserved by a worker.

        kombu stores each as `[message, exchange, routing key]`; every work queue is bound by
        its own name (config/queues.py), so the routing key names the queue. The hash holds
        at most a few messages per worker process (prefetch 1), so reading it whole is cheap.
        """
        counts: Counter[str] = Counter()
        for raw in self._client.hvals(REDIS_UNACKED_HASH):
            try:
                _message, _exchange, routing_key = json.loads(raw)
            except (ValueError, TypeError):
                continue  # not kombu's format: not a task we can attribute
            counts[str(routing_key)] += 1
        return dict(counts)

    def memory(self) -> BrokerMemory:
        info: dict[str, Any] = self._client.info("memory")
        return BrokerMemory(
            used_bytes=int(info["used_memory"]), max_bytes=int(info.get("maxmemory", 0))
        )

    def close(self) -> None:
        self._client.close()


class AmqpProbe:
    """RabbitMQ: ready counts via passive queue.declare; memory via the management API."""

    kind = "amqp"

    def __init__(self, url: str, timeout_seconds: float, management_url: str = "") -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._management_url = management_url.rstrip("/")

    def queue_depths(self, queues: Iterable[str]) -> list[QueueDepth]:
        depths = []
        with Connection(self._url, connect_timeout=self._timeout) as connection:
            for name in queues:
                # passive=True only asks; it never creates the queue nor changes its arguments.
                # https://www.rabbitmq.com/amqp-0-9-1-reference#queue.declare.passive
                channel: Any = connection.channel()  # py-amqp Channel; kombu types it loosely
                try:
                    _, ready, consumers = channel.queue_declare(queue=name, passive=True)
                except Exception:  # amqp raises NotFound (404) for a queue never declared
                    depths.append(QueueDepth(name, 0, None, 0))
                    continue
                finally:
                    if channel.is_open:
                        channel.close()
                depths.append(QueueDepth(name, int(ready), None, int(consumers)))
        return depths

    def _management(self, path: str) -> Any:
        response = requests.get(f"{self._management_url}{path}", timeout=self._timeout)
        response.raise_for_status()
        return response.json()

    def unacked_messages(self) -> int | None:
        if not self._management_url:
            return None  # AMQP itself does not report unacked counts
        return sum(int(q.get("messages_unacknowledged", 0)) for q in self._management("/queues"))

    def unacked_by_queue(self) -> dict[str, int] | None:
        if not self._management_url:
            return None
        return {
            str(q["name"]): int(q.get("messages_unacknowledged", 0))
            for q in self._management("/queues")
        }

    def memory(self) -> BrokerMemory | None:
        if not self._management_url:
            return None
        nodes = self._management("/nodes")
        return BrokerMemory(
            used_bytes=sum(int(n.get("mem_used", 0)) for n in nodes),
            max_bytes=sum(int(n.get("mem_limit", 0)) for n in nodes),
            alarm=any(n.get("mem_alarm") for n in nodes),
        )

    def close(self) -> None:
        """Connections are per call; nothing to close."""


def probe_for(broker_url: str, *, timeout_seconds: float, management_url: str = "") -> BrokerProbe:
    """The probe that understands this broker URL's transport."""
    scheme = urlsplit(broker_url).scheme
    if scheme in {"redis", "rediss"}:
        return RedisProbe(broker_url, timeout_seconds)
    if scheme == "sentinel":
        # The master's name is the Celery app's (CELERY_SENTINEL_MASTER), as workers use.
        options = celery_app.conf.broker_transport_options or {}
        master_name = str(options.get("master_name", ""))
        return RedisProbe(broker_url, timeout_seconds, master_name=master_name)
    if scheme in {"amqp", "amqps", "pyamqp"}:
        return AmqpProbe(broker_url, timeout_seconds, management_url)
    raise ValueError(f"no broker probe for {scheme!r} URLs")


def _sentinel_master(url: str, master_name: str, timeout_seconds: float) -> redis.Redis:
    """A client for whichever server the Sentinels name master now (asked again on each
    new connection), so the monitor and queue_status follow a failover without a restart.

    `url` is kombu's Sentinel URL: `sentinel://h1:26379;sentinel://h2:26379/0`.
    """
    addresses = [urlsplit(part) for part in url.split(";")]
    sentinels = Sentinel(
        [(a.hostname or "127.0.0.1", a.port or 26379) for a in addresses],
        sentinel_kwargs={
            "socket_timeout": timeout_seconds,
            "socket_connect_timeout": timeout_seconds,
        },
    )
    database = int((addresses[-1].path or "/0").strip("/") or 0)
    master: redis.Redis = sentinels.master_for(
        master_name,
        db=database,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
    )
    return master
