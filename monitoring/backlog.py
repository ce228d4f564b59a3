"""The work each queue's workers owe: what KEDA and ECS scale the workers on.

A queue's length alone counts only what waits. Autoscaling on it scales a busy fleet down
under running tasks (every worker on a 20 s charge, nothing waiting, "idle"), so the backlog
adds what is in flight and what is about to arrive:

    backlog = ready messages + delivered-but-unacknowledged (running or reserved)
              + outbox rows the broker is still owed (committed, not yet published)
"""

from collections import Counter
from dataclasses import dataclass

from celery import Celery

from monitoring import broker
from outbox import selectors as outbox_selectors


@dataclass(frozen=True)
class QueueBacklog:
    queue: str
    ready: int
    # 0 where the broker cannot tell (RabbitMQ without RABBITMQ_MANAGEMENT_URL).
    in_flight: int
    unpublished: int

    @property
    def total(self) -> int:
        return self.ready + self.in_flight + self.unpublished


def queue_for_task(app: Celery, task_name: str) -> str:
    """The queue Celery routes `task_name` to (task_routes, else the default queue)."""
    route = app.amqp.router.route({}, task_name)
    return str(route["queue"].name)


def measure(app: Celery, probe: broker.BrokerProbe, queues: list[str]) -> list[QueueBacklog]:
    """One reading of every queue's backlog: a few broker commands and one query."""
    depths = probe.queue_depths(queues)
    in_flight = probe.unacked_by_queue() or {}
    unpublished: Counter[str] = Counter()
    for task_name, count in outbox_selectors.unpublished_by_task().items():
        unpublished[queue_for_task(app, task_name)] += count
    return [
        QueueBacklog(
            queue=depth.name,
            ready=depth.ready,
            in_flight=in_flight.get(depth.name, 0),
            unpublished=unpublished[depth.name],
        )
        for depth in depths
    ]
