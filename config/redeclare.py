"""Workers re-declare their queues every few seconds: a wiped Redis loses its routing too.

On Redis, kombu keeps exchange→queue bindings in `_kombu.binding.*` keys. FLUSHALL (or a
restart without persistence) deletes them, and from then on every publish to the
`tasks` exchange finds no queue and is dropped, until a worker reconnects: a
worker declares its queues only when it (re)connects. Writing the bindings again is
idempotent and cheap (one SADD per queue), so the consumer does it on its own timer;
the sweepers then re-publish what the wipe lost.
"""

from typing import Any

from celery import bootsteps

REDECLARE_INTERVAL_SECONDS = 5.0


def _restore_redis_bindings(consumer: Any) -> None:
    connection = consumer.connection
    if connection.transport.driver_type != "redis":
        return  # RabbitMQ keeps durable bindings itself
    channel = connection.default_channel
    for queue in consumer.task_consumer.queues:
        exchange = queue.exchange.name
        # kombu skips bindings it remembers declaring, so queue.declare() would not
        # write the key again: write the binding as kombu's Redis channel does.
        binding = channel.typeof(exchange).prepare_bind(
            queue.name, exchange, queue.routing_key, queue.binding_arguments
        )
        channel._queue_bind(exchange, *binding)


class RedeclareQueues(bootsteps.StartStopStep):
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._entry: Any = None

    def start(self, parent: Any) -> None:
        self._entry = parent.timer.call_repeatedly(
            REDECLARE_INTERVAL_SECONDS, _restore_redis_bindings, (parent,)
        )

    def stop(self, parent: Any) -> None:
        if self._entry is not None:
            self._entry.cancel()
            self._entry = None
