"""The Celery app and the reliability defaults every worker and publisher shares."""

import os
from typing import Any

from celery import Celery
from celery.signals import (
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
)

from config import queues, redeclare, task_names, worker_observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _sentinel_master() -> str:
    return os.environ.get("CELERY_SENTINEL_MASTER", "")


# Every task counts its deliveries on Redis: a worker-killing message stops after a few.
app = Celery("payments", task_cls="config.delivery_guard:BoundedDeliveryTask")
app.config_from_object("django.conf:settings", namespace="CELERY")

# Hard limit: the pool kills a task still running after this long.
TASK_TIME_LIMIT_SECONDS = 150
# The Redis transport re-delivers a message left unacked this long (its worker died, or
# lost the broker). A worker holds a message only while it runs the task: no countdown
# or ETA waits in a worker (retries are scheduled in PostgreSQL, config/retries.py), and
# with prefetch 1 a reserved message starts as soon as a pool process is free. So the
# timeout only has to outlast the hard time limit, plus a margin for a pool process being
# replaced and for clock skew between hosts (the delivering worker stamps the message,
# another compares). Shorter would run a healthy long task twice; every longer second
# is a second a dead worker's message waits, unless the monitor restores it first
# (monitoring/orphans.py, within seconds of the death).
REDIS_VISIBILITY_TIMEOUT_SECONDS = TASK_TIME_LIMIT_SECONDS + 30

app.conf.update(
    # Ack after the task ran, and re-queue it when the worker process dies under it:
    # a killed worker's task is redelivered instead of lost. Tasks are idempotent, so
    # running one twice is harmless while losing one is not.
    # https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-acks-late
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    # Each worker process reserves one message at a time, so a crash strands at most one.
    worker_prefetch_multiplier=1,
    # Hard limit kills a hung task (then redelivered); soft limit lets it clean up first.
    # Both below the visibility timeout so Redis never re-delivers a running task.
    task_soft_time_limit=120,
    task_time_limit=TASK_TIME_LIMIT_SECONDS,
    # No STARTED row per task in the result backend (one write less per task): the monitor
    # sees task-started events, and nothing reads the state.
    task_track_started=False,
    # Results live in PostgreSQL (django-celery-results) and expire after a day.
    result_expires=24 * 3600,
    # Never pickle: task arguments are ids only, JSON is enough and safe.
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # A publish that cannot reach the broker retries briefly, then raises to the caller;
    # the outbox relay re-publishes anything that was committed but not sent.
    task_publish_retry=True,
    task_publish_retry_policy={
        "max_retries": 3,
        "interval_start": 0.2,
        "interval_step": 0.5,
        "interval_max": 2,
    },
    broker_connection_retry_on_startup=True,
    broker_connection_timeout=5,
    broker_transport_options={
        "visibility_timeout": REDIS_VISIBILITY_TIMEOUT_SECONDS,
        # Every worker looks for messages past the timeout every 10 s (kombu's default
        # looks every 10th time, 100 s): a lost message waits the timeout, not 100 s more.
        "unacked_restore_throttle": 1,
        # Redis: bounded socket waits so a hung broker cannot block a web process forever.
        "socket_timeout": 5,
        "socket_connect_timeout": 5,
        # AMQP: wait for the broker to confirm each publish before returning.
        "confirm_publish": True,
        # Redis Sentinel (sentinel://host:26379;sentinel://host2:26379): the monitored master.
        **({"master_name": sentinel_master} if (sentinel_master := _sentinel_master()) else {}),
    },
    task_queues=queues.TASK_QUEUES,
    task_default_queue="maintenance",
    task_default_exchange=queues.TASKS_EXCHANGE.name,
    task_default_exchange_type="topic",
    task_default_routing_key="maintenance",
    task_routes=(task_names.route,),
    # Recycle pool children now and then: bounded memory growth without restarts.
    worker_max_tasks_per_child=1000,
    worker_send_task_events=True,
    task_send_sent_event=True,
)

# Celery's Django fixup closes every database connection after each task unless told to
# reuse them, and since Celery 5.6 it ignores CONN_MAX_AGE: a new PostgreSQL connection
# per task. Reuse is turned on (a bound far beyond any pool child's life) and Django's own
# rules decide instead, as they do around a web request (see _django_connection_rules).
app.conf.update({"CELERY_DB_REUSE_MAX": 1_000_000})

app.autodiscover_tasks()
app.steps["consumer"].add(redeclare.RedeclareQueues)
# Liveness file, publish time stamps, trace ids in logs, worker metrics (README.md, "Monitoring").
worker_observability.install(app)


@worker_ready.connect
def _declare_dead_letter_queue(sender: Any, **_: object) -> None:
    with sender.app.connection_for_write() as connection:
        queues.declare_dead_letter_queue(connection)


@task_prerun.connect
@task_postrun.connect
def _django_connection_rules(**_: object) -> None:
    # CONN_MAX_AGE and CONN_HEALTH_CHECKS: a connection that broke (a killed backend, a
    # failover) is dropped here, and a healthy one is checked once before its next use.
    from django.db import close_old_connections

    close_old_connections()


@worker_process_init.connect
def _start_tracing_in_pool_child(**_: object) -> None:
    # Exporters own threads and sockets that do not survive fork: start them in the child.
    from config import telemetry

    telemetry.configure_tracing(service_name="payments-worker")


@worker_process_shutdown.connect
def _flush_spans_in_pool_child(**_: object) -> None:
    from config import telemetry

    telemetry.shutdown_tracing()
