"""One on-call screen: queues, workers, failures, outbox, stalled payments, beat."""

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from celery import Celery
from kombu.utils.url import maybe_sanitize_url
from prometheus_client import CollectorRegistry

from monitoring import broker, selectors
from monitoring.events import CeleryEventMetrics
from monitoring.exporter import configured_queues
from outbox import due
from outbox import selectors as outbox_selectors

FAILURE_WINDOW_SECONDS = 300


@dataclass(frozen=True)
class WorkerLine:
    hostname: str
    last_heartbeat: float | None
    active: int
    alive: bool


@dataclass(frozen=True)
class QueueStatus:
    taken_at: float
    broker_url: str
    queues: list[broker.QueueDepth]
    unacked: int | None
    memory: broker.BrokerMemory | None
    workers: list[WorkerLine]
    outcomes: selectors.TaskOutcomes
    outbox: outbox_selectors.OutboxLag
    stuck: list[selectors.StuckWork]
    waiting: list[due.Waiting]
    failed_notifications: int
    beat_ages: dict[str, float | None]
    beat_leader: str | None


class WorkerListener:
    """Follows worker heartbeats (every worker sends one every 2 s) from Celery events."""

    def __init__(self, app: Celery, broker_url: str) -> None:
        self._app = app
        self._broker_url = broker_url
        self.events = CeleryEventMetrics(app, CollectorRegistry())
        self._stop = threading.Event()

    def listen(self, seconds: float) -> None:
        """Capture events for `seconds`; `wakeup` makes every worker answer right away."""
        deadline = time.monotonic() + seconds
        with self._app.connection_for_read(self._broker_url) as connection:
            receiver = self._app.events.Receiver(connection, handlers={"*": self.events.handle})
            try:
                for _ in receiver.itercapture(limit=None, timeout=seconds, wakeup=True):
                    if time.monotonic() >= deadline or self._stop.is_set():
                        return
            except TimeoutError:
                return  # no event at all within `seconds`: no worker is sending any

    def listen_in_background(self) -> None:
        def forever() -> None:
            while not self._stop.is_set():
                try:
                    self.listen(5.0)
                except Exception:  # broker gone for a moment: the screen says so via the ages
                    self._stop.wait(1.0)

        threading.Thread(target=forever, name="worker-listener", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def workers(self) -> list[WorkerLine]:
        return [WorkerLine(*row) for row in self.events.worker_snapshot()]


def take(
    app: Celery,
    broker_url: str,
    probe: broker.BrokerProbe,
    listener: WorkerListener,
) -> QueueStatus:
    return QueueStatus(
        taken_at=time.time(),
        broker_url=maybe_sanitize_url(broker_url),
        queues=probe.queue_depths(configured_queues()),
        unacked=probe.unacked_messages(),
        memory=probe.memory(),
        workers=listener.workers(),
        outcomes=selectors.task_outcomes_since(FAILURE_WINDOW_SECONDS),
        outbox=outbox_selectors.outbox_lag(),
        stuck=selectors.stuck_work(),
        waiting=due.waiting_work(),
        failed_notifications=selectors.failed_notification_count(),
        beat_ages=selectors.periodic_task_ages(),
        beat_leader=selectors.beat_leader(),
    )


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f}s"
    if value < 7200:
        return f"{value / 60:.1f}m"
    return f"{value / 3600:.1f}h"


def _bytes(value: int) -> str:
    return f"{value / 2**20:.1f} MiB"


def _memory_line(memory: broker.BrokerMemory | None) -> str:
    if memory is None:
        return "broker memory: unknown (set RABBITMQ_MANAGEMENT_URL)"
    limit = f"of {_bytes(memory.max_bytes)}" if memory.max_bytes else "(no maxmemory set!)"
    alarm = "  MEMORY ALARM: publishers blocked" if memory.alarm else ""
    return f"broker memory: {_bytes(memory.used_bytes)} {limit}{alarm}"


def _waiting_line(waiting: due.Waiting, taken_at: float) -> str:
    if waiting.earliest is None:
        return f"  {waiting.kind:<20}{waiting.count:>6}"
    ahead = waiting.earliest.timestamp() - taken_at
    when = f"due in {_seconds(ahead)}" if ahead >= 0 else f"OVERDUE by {_seconds(-ahead)}"
    return f"  {waiting.kind:<20}{waiting.count:>6}   earliest {when}"


def render(status: QueueStatus) -> str:
    taken = datetime.fromtimestamp(status.taken_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [f"queue status at {taken}   broker {status.broker_url}", ""]
    lines.append(f"{'QUEUE':<20}{'READY':>8}{'OLDEST':>10}")
    for queue in status.queues:
        lines.append(f"{queue.name:<20}{queue.ready:>8}{_seconds(queue.oldest_age_seconds):>10}")
    unacked = "unknown" if status.unacked is None else str(status.unacked)
    lines += [f"unacked (delivered, running or reserved): {unacked}", _memory_line(status.memory)]
    lines += ["", f"{'WORKER':<40}{'LAST HEARTBEAT':>16}{'ACTIVE':>8}  STATE"]
    for worker in status.workers:
        ago = None if worker.last_heartbeat is None else status.taken_at - worker.last_heartbeat
        state = "up" if worker.alive else "DOWN"
        lines.append(
            f"{worker.hostname:<40}{_seconds(ago) + ' ago':>16}{worker.active:>8}  {state}"
        )
    if not status.workers:
        lines.append("(no worker heartbeat: no worker is running)")
    outcomes = status.outcomes
    ratio = outcomes.failure_ratio
    rate = "no finished tasks" if ratio is None else f"{ratio:.1%} failure rate"
    lines += [
        "",
        f"tasks, last {FAILURE_WINDOW_SECONDS // 60} min: {outcomes.succeeded} succeeded, "
        f"{outcomes.failed} failed ({rate})",
        f"outbox: {status.outbox.unpublished} unpublished, "
        f"oldest {_seconds(status.outbox.oldest_age_seconds)}",
        "stuck work (no progress past its threshold; the recovery sweeper re-drives it):",
        *(
            f"  {stuck.kind:<20}{stuck.count:>6}   after {_seconds(stuck.threshold_seconds)}"
            for stuck in status.stuck
        ),
        "waiting for their next attempt (a retry or a rate-limit deferral):",
        *(_waiting_line(waiting, status.taken_at) for waiting in status.waiting),
        f"failed notifications (retried by the sweeper): {status.failed_notifications}",
    ]
    lines.append(f"beat: leader {status.beat_leader or 'NONE: no beat holds the lock'}")
    for name, age in sorted(status.beat_ages.items()):
        lines.append(f"  {name:<38}last run {'never' if age is None else _seconds(age) + ' ago'}")
    if not status.beat_ages:
        lines.append("  (no periodic task)")
    return "\n".join(lines) + "\n"
