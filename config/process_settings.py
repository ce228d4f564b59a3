"""Settings of the processes beside the web: the monitor, worker metrics and heartbeats, Flower.

Read by config/settings.py, which takes every name here (Django reads settings by name).
"""

import environ

env = environ.Env()

# --- Monitoring (README.md, "Monitoring") --------------------------------------------------------
# `manage.py celery_monitor` serves Celery, broker and payment metrics here.
CELERY_MONITOR_PORT = env.int("CELERY_MONITOR_PORT", default=9808)
CELERY_MONITOR_ADDRESS = env.str("CELERY_MONITOR_ADDRESS", default="127.0.0.1")
CELERY_MONITOR_REFRESH_SECONDS = env.float("CELERY_MONITOR_REFRESH_SECONDS", default=5.0)
# A Celery worker's main process serves its pool's metrics here when set (one port each).
CELERY_WORKER_METRICS_PORT = env.int("CELERY_WORKER_METRICS_PORT", default=0)
CELERY_WORKER_METRICS_ADDRESS = env.str("CELERY_WORKER_METRICS_ADDRESS", default="127.0.0.1")
# Liveness: the worker refreshes this file while it consumes; `manage.py worker_alive` reads it.
CELERY_WORKER_HEARTBEAT_FILE = env.str("CELERY_WORKER_HEARTBEAT_FILE", default="")
CELERY_WORKER_HEARTBEAT_INTERVAL_SECONDS = env.float(
    "CELERY_WORKER_HEARTBEAT_INTERVAL_SECONDS", default=5.0
)
CELERY_WORKER_HEARTBEAT_MAX_AGE_SECONDS = env.float(
    "CELERY_WORKER_HEARTBEAT_MAX_AGE_SECONDS", default=30.0
)
# Stalled payments (the sweeper's, the metric's and queue_status's): STALLED_PAYMENT_SECONDS.
BROKER_PROBE_TIMEOUT_SECONDS = env.float("BROKER_PROBE_TIMEOUT_SECONDS", default=3.0)
READINESS_TIMEOUT_SECONDS = env.float("READINESS_TIMEOUT_SECONDS", default=2.0)
# RabbitMQ management API (e.g. http://guest:guest@127.0.0.1:15672/api) for memory/unacked.
RABBITMQ_MANAGEMENT_URL = env.str("RABBITMQ_MANAGEMENT_URL", default="")
# `manage.py publish_queue_metrics` (ECS): CloudWatch namespace and how often it publishes.
QUEUE_METRICS_NAMESPACE = env.str("QUEUE_METRICS_NAMESPACE", default="Payments/Celery")
QUEUE_METRICS_INTERVAL_SECONDS = env.float("QUEUE_METRICS_INTERVAL_SECONDS", default=60.0)

# --- Flower (README.md, "Flower") ----------------------------------------------------------------
FLOWER_PORT = env.int("FLOWER_PORT", default=5555)
FLOWER_ADDRESS = env.str("FLOWER_ADDRESS", default="127.0.0.1")
# "user:password" pairs, comma-separated; Flower reads this variable itself. `manage.py
# flower` refuses to start without it when DEBUG is off.
FLOWER_BASIC_AUTH = env.list("FLOWER_BASIC_AUTH", default=[])
# Flower keeps this many tasks in memory and nothing on disk (--persistent=False).
FLOWER_MAX_TASKS = env.int("FLOWER_MAX_TASKS", default=10_000)
