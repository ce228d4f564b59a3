"""Celery events → celery-exporter's metrics (same names and labels, so its dashboards work).

Event reference: https://docs.celeryq.dev/en/stable/userguide/monitoring.html#event-reference
Metric names: https://github.com/danihodovic/celery-exporter#metrics
"""

import threading
import time
from collections import OrderedDict
from typing import Any

from celery import Celery
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Celery task event → celery-exporter's counter (each name written out, so a grep finds it).
TASK_EVENT_COUNTERS = {
    "sent": "celery_task_sent",
    "received": "celery_task_received",
    "started": "celery_task_started",
    "succeeded": "celery_task_succeeded",
    "failed": "celery_task_failed",
    "retried": "celery_task_retried",
    "rejected": "celery_task_rejected",
    "revoked": "celery_task_revoked",
}
TASK_LABELS = ("name", "hostname", "queue_name")
# Task ids remembered to spot a second execution of the same id; bounded memory.
STARTED_IDS_REMEMBERED = 100_000


def exception_name(exception_repr: str) -> str:
    """`ValueError('card 4242…')` → `ValueError`: the message may carry data, the class not."""
    return exception_repr.split("(", 1)[0].strip().rsplit(".", 1)[-1] or "unknown"


class CeleryEventMetrics:
    """Counts task events per (name, hostname, queue) and tracks workers from heartbeats."""

    def __init__(self, app: Celery, registry: CollectorRegistry) -> None:
        self._app = app
        self._state = app.events.State()
        self._lock = threading.Lock()
        self._started_ids: OrderedDict[str, None] = OrderedDict()
        # The pid of each worker's running incarnation, and when one last died without
        # saying so (monitoring/orphans.py restores what it held).
        self._incarnations: dict[str, int] = {}
        self.last_death_at = 0.0
        self.task_counters = {
            state: Counter(
                metric_name,
                f"Tasks {state}, from Celery task-{state} events.",
                [*TASK_LABELS, "exception"] if state in {"failed", "retried"} else TASK_LABELS,
                registry=registry,
            )
            for state, metric_name in TASK_EVENT_COUNTERS.items()
        }
        self.runtime = Histogram(
            "celery_task_runtime",
            "Seconds a task ran (task-succeeded runtime).",
            TASK_LABELS,
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, float("inf")),
        )
        self.worker_up = Gauge(
            "celery_worker_up",
            "1 while the worker sends heartbeats.",
            ["hostname"],
            registry=registry,
        )
        self.worker_tasks_active = Gauge(
            "celery_worker_tasks_active",
            "Tasks the worker is running, from its last heartbeat.",
            ["hostname"],
            registry=registry,
        )
        self.worker_last_heartbeat = Gauge(
            "celery_worker_last_heartbeat_timestamp",
            "Unix time of the worker's last heartbeat.",
            ["hostname"],
            registry=registry,
        )
        self.duplicate_executions = Counter(
            "celery_task_duplicate_executions",
            "A task id started again without a retry in between (redelivery, double publish).",
            ["name", "queue_name"],
            registry=registry,
        )

    def handle(self, event: dict[str, Any]) -> None:
        """The receiver's catch-all handler: one event at a time, from the capture thread."""
        with self._lock:
            self._state.event(event)
            kind = event.get("type", "")
            if kind.startswith("task-"):
                self._on_task_event(kind.removeprefix("task-"), event)
            elif kind.startswith("worker-"):
                self._on_worker_event(kind, event)

    def _queue_of(self, name: str, task: Any) -> str:
        queue = getattr(task, "queue", None) or getattr(task, "routing_key", None)
        if queue:
            return str(queue)
        # task-received carries no queue: fall back to the routing table both sides share.
        route = self._app.amqp.router.route({}, name)
        return str(route["queue"].name) if route.get("queue") else "unknown"

    def _on_task_event(self, state: str, event: dict[str, Any]) -> None:
        if state not in self.task_counters:
            return
        task = self._state.tasks.get(event.get("uuid", ""))
        name = (
            (getattr(task, "name", None) or event.get("name") or "unknown") if task else "unknown"
        )
        labels = {
            "name": name,
            "hostname": event.get("hostname", "unknown"),
            "queue_name": self._queue_of(name, task),
        }
        if state in {"failed", "retried"}:
            self.task_counters[state].labels(
                **labels, exception=exception_name(str(event.get("exception", "")))
            ).inc()
        else:
            self.task_counters[state].labels(**labels).inc()
        if state == "succeeded" and event.get("runtime") is not None:
            self.runtime.labels(**labels).observe(float(event["runtime"]))
        if state == "started":
            self._note_start(event.get("uuid", ""), name, labels["queue_name"])
        elif state == "retried":
            # A retry is republished under the same id: its next start is expected.
            self._started_ids.pop(event.get("uuid", ""), None)

    def _note_start(self, task_id: str, name: str, queue_name: str) -> None:
        if task_id in self._started_ids:
            self.duplicate_executions.labels(name=name, queue_name=queue_name).inc()
            return
        self._started_ids[task_id] = None
        if len(self._started_ids) > STARTED_IDS_REMEMBERED:
            self._started_ids.popitem(last=False)

    def _on_worker_event(self, kind: str, event: dict[str, Any]) -> None:
        hostname = event.get("hostname", "unknown")
        if kind == "worker-offline":
            self._incarnations.pop(hostname, None)  # a clean shutdown returns its messages
            self.worker_up.labels(hostname=hostname).set(0)
            self.worker_tasks_active.labels(hostname=hostname).set(0)
            return
        pid = event.get("pid")
        if isinstance(pid, int):
            if self._incarnations.get(hostname, pid) != pid:
                # Back under a new pid without going offline: the old process was killed
                # (a supervisor restarts a worker faster than its heartbeats expire).
                self.last_death_at = time.time()
            self._incarnations[hostname] = pid
        self.worker_up.labels(hostname=hostname).set(1)
        self.worker_last_heartbeat.labels(hostname=hostname).set(event.get("timestamp", 0))
        if "active" in event:
            self.worker_tasks_active.labels(hostname=hostname).set(event["active"])

    def expire_silent_workers(self) -> None:
        """Mark down a worker whose heartbeats stopped without a worker-offline (a kill -9)."""
        with self._lock:
            for hostname, worker in self._state.workers.items():
                if not worker.alive:
                    self.worker_up.labels(hostname=hostname).set(0)
                    self.worker_tasks_active.labels(hostname=hostname).set(0)
                    if self._incarnations.pop(hostname, None) is not None:
                        self.last_death_at = time.time()

    def living_workers(self) -> list[str]:
        """Hostnames of the workers whose heartbeats are current."""
        with self._lock:
            return [hostname for hostname, worker in self._state.workers.items() if worker.alive]

    def worker_snapshot(self) -> list[tuple[str, float | None, int, bool]]:
        """(hostname, last heartbeat, active tasks, alive) for every worker seen."""
        with self._lock:
            return [
                (
                    hostname,
                    worker.heartbeats[-1] if worker.heartbeats else None,
                    int(worker.active or 0),
                    bool(worker.alive),
                )
                for hostname, worker in sorted(self._state.workers.items())
            ]
