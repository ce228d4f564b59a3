"""Messages a dead worker held on Redis, put back in their queue seconds after its death.

On Redis a delivered message waits in kombu's `unacked` hash until it is acked. When its
worker dies without acking (kill -9, a lost host) the transport restores it only after
the visibility timeout (config/celery.py). The monitor sees a death in the heartbeats
(monitoring/events.py); it then asks every living worker which tasks it holds (running or
reserved) and restores each unacked message that none of them holds and that was
delivered long enough ago not to be one a living worker is just taking. RabbitMQ returns
a dead consumer's messages by itself.

Only a pass where every living worker answered restores anything: a worker that does not
answer might hold any of the messages. A message restored in error (a worker that answered
late) runs twice, which every task tolerates (each looks before it acts).
"""

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from celery import Celery
from kombu.utils.encoding import bytes_to_str

logger = logging.getLogger(__name__)

# After a death, look for its messages this long (a few refreshes): a worker that did not
# answer one pass may answer the next.
WATCH_SECONDS = 30.0
# A message delivered this recently may not be in its living worker's answer yet.
GRACE_SECONDS = 2.0
INSPECT_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class Unacked:
    tag: str
    task_id: str
    task_name: str
    delivered_at: float


def held_task_ids(app: Celery, living: Iterable[str]) -> set[str] | None:
    """Ids of the tasks the living workers run or have reserved; None unless all answered."""
    inspect = app.control.inspect(timeout=INSPECT_TIMEOUT_SECONDS)
    held: set[str] = set()
    # `scheduled` holds ETA messages, which only a worker of an older release still has.
    for replies in (inspect.active(), inspect.reserved(), inspect.scheduled()):
        replies = replies or {}
        if set(living) - set(replies):
            return None
        for requests in replies.values():
            held.update(_task_id(request) for request in requests)
    return held


def _task_id(request: Any) -> str:
    # active and reserved list request infos; scheduled wraps each in {"eta", "request"}.
    return str(request.get("id") or request.get("request", {}).get("id"))


def _unacked(channel: Any) -> list[Unacked]:
    with channel.conn_or_acquire() as client:
        raw_messages = client.hgetall(channel.unacked_key)
        delivered = dict(client.zrange(channel.unacked_index_key, 0, -1, withscores=True))
    found = []
    for raw_tag, raw in raw_messages.items():
        try:
            payload = json.loads(raw)[0]
            headers = payload.get("headers") or {}
        except (ValueError, TypeError, IndexError, AttributeError):
            continue  # not kombu's format: leave it to the visibility timeout
        found.append(
            Unacked(
                tag=bytes_to_str(raw_tag),
                task_id=str(headers.get("id", "")),
                task_name=str(headers.get("task", "")),
                delivered_at=float(delivered.get(raw_tag, time.time())),
            )
        )
    return found


def restore_orphans(app: Celery, living: Iterable[str]) -> list[Unacked]:
    """Put back every unacked message no living worker holds; returns what was restored."""
    living = list(living)
    with app.connection_for_write() as connection:
        if connection.transport.driver_type != "redis":
            return []
        channel: Any = connection.default_channel  # kombu's Redis channel: qos, client
        candidates = [m for m in _unacked(channel) if m.delivered_at < time.time() - GRACE_SECONDS]
        if not candidates:
            return []
        held = held_task_ids(app, living)
        if held is None:
            logger.info("a living worker did not say what it holds; no message restored")
            return []
        restored = []
        for message in candidates:
            if message.task_id in held:
                continue
            # A WATCH transaction: a message acked meanwhile is not restored.
            channel.qos.restore_by_tag(message.tag, leftmost=True)
            restored.append(message)
    for message in restored:
        logger.warning(
            "restored %s[%s], held by a worker that died (unacked %.0f s)",
            message.task_name,
            message.task_id,
            time.time() - message.delivered_at,
        )
    return restored
