"""The transactional outbox: tasks are written with the data, published after commit."""

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.db import close_old_connections, transaction
from django.db.models import QuerySet
from django.utils import timezone
from opentelemetry import context as otel_context
from opentelemetry.propagate import extract, inject

from config import failpoints
from config.celery import app as celery_app
from outbox.models import OutboxMessage

logger = logging.getLogger(__name__)


def enqueue(task_name: str, *ids: str | int) -> OutboxMessage:
    """Write an outbox row in the caller's transaction; publish it once that commits."""
    carrier: dict[str, str] = {}
    inject(carrier)
    message = OutboxMessage.objects.create(
        task_name=task_name, args=[str(i) for i in ids], traceparent=carrier.get("traceparent", "")
    )
    # robust: a broker outage must not turn an accepted, committed request into a 500.
    transaction.on_commit(lambda: _publish_after_commit(message), robust=True)
    return message


# Web processes publish after the response, from a small pool of threads of their own
# (config/wsgi.py turns it on): a client never waits for the broker. A publish lost with
# its process is the relay's, like any publish that failed.
_background: ThreadPoolExecutor | None = None


def publish_in_background(threads: int = 2) -> None:
    global _background
    _background = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="outbox-publish")


def _publish_after_commit(message: OutboxMessage) -> None:
    # The chaos suite kills the process here: committed, never published. The relay owes it.
    failpoints.maybe_crash("outbox.after_commit_before_publish")
    if _background is None:
        publish(message)
    else:
        _background.submit(_publish_from_thread, message)


def _publish_from_thread(message: OutboxMessage) -> None:
    # This thread keeps its database connection between publishes; Django's rules
    # (CONN_MAX_AGE, health checks) are applied here, as around a request.
    close_old_connections()
    publish(message)


def publish(message: OutboxMessage) -> bool:
    """Send one outbox row to the broker and mark it published; False if the broker failed."""
    token = otel_context.attach(extract({"traceparent": message.traceparent}))
    try:
        # The row id is the task id: a message published twice is recognisable.
        error = _send(message.task_name, message.args, task_id=str(message.id))
    finally:
        otel_context.detach(token)
    if error is not None:
        logger.warning("outbox publish failed for %s: %s", message.id, type(error).__name__)
        OutboxMessage.objects.filter(id=message.id).update(
            publish_attempts=message.publish_attempts + 1,
            last_error=type(error).__name__,
            updated_at=timezone.now(),
        )
        return False
    # Sent but not marked: the relay publishes it again, and the task runs twice.
    failpoints.maybe_crash("outbox.after_publish_before_mark_published")
    now = timezone.now()
    OutboxMessage.objects.filter(id=message.id).update(
        published_at=now, publish_attempts=message.publish_attempts + 1, updated_at=now
    )
    return True


def send(task_name: str, *ids: str) -> bool:
    """Publish one task now, outside the outbox (its row is the record); False if not sent."""
    error = _send(task_name, list(ids))
    if error is not None:
        logger.warning("publish of %s failed: %s", task_name, type(error).__name__)
    return error is None


def _send(task_name: str, args: list[str], task_id: str | None = None) -> Exception | None:
    try:
        celery_app.send_task(task_name, args=args, task_id=task_id)
    except Exception as error:  # kombu raises many kinds; any of them means "not sent"
        return error
    return None


def relay_unpublished(grace_seconds: float, batch_size: int = 500) -> int:
    """Publish rows the fast path missed (process died after COMMIT, broker was down)."""
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    return _publish_waiting(
        OutboxMessage.objects.filter(published_at__isnull=True, created_at__lt=cutoff),
        batch_size,
    )


def publish_rows(ids: Sequence[Any]) -> int:
    """Publish these rows if they are still waiting (the recovery sweeper's re-drive)."""
    return _publish_waiting(
        OutboxMessage.objects.filter(pk__in=list(ids), published_at__isnull=True), len(ids)
    )


def _publish_waiting(rows: QuerySet[OutboxMessage], batch_size: int) -> int:
    published = 0
    with transaction.atomic():
        # skip_locked: two relays running at once share the work instead of doubling it.
        for message in rows.select_for_update(skip_locked=True).order_by("created_at")[:batch_size]:
            if not publish(message):
                break  # the broker is down; the next tick tries again
            published += 1
    return published
