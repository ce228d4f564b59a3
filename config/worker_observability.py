"""Worker-side observability hooks: liveness file, publish time stamp, logs, metrics."""

import logging
import os
import time
from pathlib import Path
from typing import Any

from celery import Celery, bootsteps
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    before_task_publish,
    worker_init,
    worker_process_shutdown,
)
from django.conf import settings

from config import logs, metrics

# Stamped on every published task; the monitor reads it to tell a queue's oldest message's age.
PUBLISHED_AT_HEADER = "published_at"

logger = logging.getLogger(__name__)


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


class HeartbeatFile(bootsteps.StartStopStep):
    """Refreshes a file from the consumer's own event loop while it consumes.

    It starts after the task consumer (so it proves the worker is subscribed), runs on the
    consumer's timer (a blocked loop stops it), and stops when the consumer loses the
    broker (the consumer blueprint stops its steps before reconnecting). `manage.py
    worker_alive` checks the file's age; no `celery inspect ping` broadcast is needed.
    https://docs.celeryq.dev/en/stable/userguide/extending.html#consumer-bootsteps
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.path = (
            Path(settings.CELERY_WORKER_HEARTBEAT_FILE)
            if settings.CELERY_WORKER_HEARTBEAT_FILE
            else None
        )
        self._entry: Any = None

    def start(self, parent: Any) -> None:
        if self.path is None:
            return
        touch(self.path)
        self._entry = parent.timer.call_repeatedly(
            settings.CELERY_WORKER_HEARTBEAT_INTERVAL_SECONDS, touch, (self.path,)
        )

    def stop(self, parent: Any) -> None:
        if self._entry is not None:
            self._entry.cancel()
            self._entry = None

    def shutdown(self, parent: Any) -> None:
        self.stop(parent)
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _stamp_publish_time(headers: dict[str, Any] | None = None, **_: Any) -> None:
    # Lets the monitor tell how long the oldest message of a queue has waited.
    # https://docs.celeryq.dev/en/stable/userguide/signals.html#before-task-publish
    if headers is not None:
        headers[PUBLISHED_AT_HEADER] = time.time()


def _serve_worker_metrics(**_: Any) -> None:
    # The main process, before the pool forks: empty the sample directory, then serve it.
    metrics.reset_multiprocess_dir()
    if port := settings.CELERY_WORKER_METRICS_PORT:
        metrics.serve_process_metrics(port, settings.CELERY_WORKER_METRICS_ADDRESS)
        logger.info("worker metrics on http://%s:%s/", settings.CELERY_WORKER_METRICS_ADDRESS, port)


def _forget_dead_child(pid: int | None = None, **_: Any) -> None:
    metrics.mark_process_dead(pid or os.getpid())


def _correlate_logs(logger: logging.Logger, **_: Any) -> None:
    # Celery installs its own handlers on the root and task loggers; decorate them.
    logs.install_on(logger, json_format=settings.LOG_FORMAT == "json")


def install(app: Celery) -> None:
    """Connect the hooks to this app's workers and publishers (called once at import)."""
    app.steps["consumer"].add(HeartbeatFile)
    before_task_publish.connect(_stamp_publish_time, weak=False)
    worker_init.connect(_serve_worker_metrics, weak=False)
    worker_process_shutdown.connect(_forget_dead_child, weak=False)
    after_setup_logger.connect(_correlate_logs, weak=False)
    after_setup_task_logger.connect(_correlate_logs, weak=False)
