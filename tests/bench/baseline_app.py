"""Raw Celery for the baseline: a two-task chain of no-ops, results in the same PostgreSQL.

The same broker, database, result backend (django-celery-results) and reliability
settings as the service, and no business logic: what the service's pipeline is measured
against. Run by the benchmark as `celery -A tests.bench.baseline_app worker -Q bench`.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("bench")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_default_queue="bench",
    task_routes={},
    task_queues=None,
    beat_schedule={},
)


@app.task(name="bench.first")
def first(number: int) -> int:
    return number


@app.task(name="bench.second")
def second(number: int) -> int:
    return number
