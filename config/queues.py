"""Queues and exchanges, the same declarations on Redis and RabbitMQ."""

from kombu import Connection, Exchange, Queue

# Topic, not direct: Celery's native delayed delivery on RabbitMQ (countdowns and retry
# backoff on quorum queues) binds queues to its delay exchanges by topic patterns.
# https://docs.celeryq.dev/projects/kombu/en/main/reference/kombu.transport.native_delayed_delivery.html
TASKS_EXCHANGE = Exchange("tasks", type="topic", durable=True)
DEAD_LETTER_EXCHANGE = Exchange("dead_letters", type="topic", durable=True)

# RabbitMQ returns a message this many times (worker killed, connection lost) before it
# dead-letters it: a poison message cannot keep killing workers forever.
DELIVERY_LIMIT = 5


def _work_queue(name: str) -> Queue:
    return Queue(
        name,
        TASKS_EXCHANGE,
        routing_key=name,
        # RabbitMQ only; Redis ignores queue arguments.
        queue_arguments={
            # Replicated, fsynced before confirming: survives a node failure.
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name,
            "x-dead-letter-routing-key": name,
            # Dead-letter without losing the message, which needs reject-publish overflow.
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    )


WORK_QUEUES = ("charges", "payments", "notifications", "maintenance")
DEAD_LETTER_QUEUE = Queue(
    "dead_letters",
    DEAD_LETTER_EXCHANGE,
    routing_key="#",
    queue_arguments={"x-queue-type": "quorum"},
)
TASK_QUEUES = (*(_work_queue(name) for name in WORK_QUEUES), DEAD_LETTER_QUEUE)


def declare_dead_letter_queue(connection: Connection) -> None:
    """Declare the dead-letter queue, which no worker consumes and so none would declare.

    Messages dead-lettered to an exchange without a bound queue are dropped, so it
    must exist before the first poison message. Redis has no dead-lettering: skipped.
    """
    if connection.transport.driver_type == "amqp":
        DEAD_LETTER_QUEUE(connection.default_channel).declare()
