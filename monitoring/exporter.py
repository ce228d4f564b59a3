"""The monitor process: Celery events, broker and database state as Prometheus metrics."""

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from celery import Celery
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from config.queues import WORK_QUEUES
from monitoring import backlog, broker, orphans, selectors
from monitoring.events import CeleryEventMetrics
from outbox import due
from outbox import selectors as outbox_selectors

logger = logging.getLogger(__name__)

E2E_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, float("inf"))


def configured_queues() -> list[str]:
    """Every queue workers consume (the dead-letter queue is watched by alerts, not here)."""
    return sorted(WORK_QUEUES)


class PaymentTransitionsCollector(Collector):
    """`payments_total{status}` read from the append-only event table at scrape time."""

    def __init__(self) -> None:
        self.latest: dict[str, int] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "payments", "Payments that entered each status.", labels=["status"]
        )
        for status, count in sorted(self.latest.items()):
            family.add_metric([status], count)
        yield family


class StateMetrics:
    """Gauges refreshed every few seconds from the broker and the database."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, doc: str, labels: Iterable[str] = ()) -> Gauge:
            return Gauge(name, doc, list(labels), registry=registry)

        self.queue_length = gauge("celery_queue_length", "Ready messages.", ["queue_name"])
        self.queue_oldest_age = gauge(
            "celery_queue_oldest_message_age_seconds",
            "Seconds the oldest ready message has waited (Redis).",
            ["queue_name"],
        )
        self.active_workers = gauge(
            "celery_active_worker_count", "Workers consuming the queue.", ["queue_name"]
        )
        self.active_consumers = gauge(
            "celery_active_consumer_count", "AMQP consumers on the queue.", ["queue_name"]
        )
        self.unacked = gauge("celery_messages_unacked", "Delivered, not yet acknowledged.")
        self.backlog = gauge(
            "celery_queue_backlog",
            "Work the queue's workers owe: ready + delivered-unacked (running or reserved) "
            "+ unpublished outbox rows routed to it. KEDA and ECS scale the workers on it.",
            ["queue_name"],
        )
        self.memory_used = gauge("celery_broker_memory_used_bytes", "Broker memory in use.")
        self.memory_max = gauge("celery_broker_memory_max_bytes", "Broker memory limit (0: none).")
        self.memory_alarm = gauge(
            "celery_broker_memory_alarm", "1 while RabbitMQ blocks publishers."
        )
        self.outbox_unpublished = gauge("payments_outbox_unpublished", "Outbox rows not yet sent.")
        self.outbox_lag = gauge(
            "payments_outbox_lag_seconds", "Age of the oldest unpublished outbox row."
        )
        self.work_stuck = gauge(
            "payments_work_stuck",
            "Durable work with no progress for its kind's threshold (outbox/recovery.py).",
            ["kind"],
        )
        self.work_waiting = gauge(
            "payments_work_waiting",
            "Durable work waiting for its scheduled next attempt (a retry or a rate-limit "
            "deferral, config/retries.py).",
            ["kind"],
        )
        self.work_overdue = gauge(
            "payments_work_next_attempt_overdue_seconds",
            "How long the earliest scheduled attempt is past its time (0: none is); the "
            "beat leader publishes due work several times a second.",
            ["kind"],
        )
        self.orphans_restored = Counter(
            "celery_orphaned_messages_restored",
            "Unacked messages of a dead worker the monitor put back in their queue (Redis).",
            registry=registry,
        )
        self.notifications_failed = gauge(
            "payments_notifications_failed",
            "Emails whose last round of retries failed; the recovery sweeper tries again.",
        )
        self.beat_age = gauge(
            "celery_beat_last_run_age_seconds",
            "Seconds since beat last ran the periodic task (-1: never).",
            ["periodic_task"],
        )
        self.e2e = Histogram(
            "payments_e2e_duration_seconds",
            "Accepted by the API → charge outcome recorded.",
            ["outcome"],
            registry=registry,
            buckets=E2E_BUCKETS,
        )
        self.refresh_errors = Counter(
            "celery_monitor_refresh_errors",
            "Refreshes that failed, by source.",
            ["source"],
            registry=registry,
        )
        self.transitions = PaymentTransitionsCollector()
        registry.register(self.transitions)


class Monitor:
    """Owns the registry; `run()` serves it while two threads keep it current."""

    def __init__(
        self,
        app: Celery,
        *,
        probe: broker.BrokerProbe,
        refresh_seconds: float,
    ) -> None:
        self.app = app
        self.registry = CollectorRegistry()
        self.events = CeleryEventMetrics(app, self.registry)
        self.state = StateMetrics(self.registry)
        self._probe = probe
        self._queues = configured_queues()
        self._refresh_seconds = refresh_seconds
        self._last_event_id: int | None = None
        self._stop = threading.Event()

    # --- refresh (broker + database) ---------------------------------------------------------

    def _guarded(self, source: str, action: Any) -> None:
        try:
            action()
        except Exception:  # one unreachable source must not blank the others
            logger.warning("monitor refresh of %s failed", source, exc_info=True)
            self.state.refresh_errors.labels(source=source).inc()

    def refresh(self) -> None:
        self._guarded("broker", self._refresh_broker)
        self._guarded("backlog", self._refresh_backlog)
        self._guarded("workers", self._refresh_consumers)
        self._guarded("database", self._refresh_database)
        self.events.expire_silent_workers()
        self._guarded("orphans", self._restore_orphans)

    def _restore_orphans(self) -> None:
        if time.time() - self.events.last_death_at > orphans.WATCH_SECONDS:
            return
        restored = orphans.restore_orphans(self.app, self.events.living_workers())
        self.state.orphans_restored.inc(len(restored))

    def _refresh_broker(self) -> None:
        for depth in self._probe.queue_depths(self._queues):
            self.state.queue_length.labels(queue_name=depth.name).set(depth.ready)
            age = depth.oldest_age_seconds if depth.oldest_age_seconds is not None else 0.0
            self.state.queue_oldest_age.labels(queue_name=depth.name).set(age)
            if depth.consumers is not None:
                self.state.active_consumers.labels(queue_name=depth.name).set(depth.consumers)
        if (unacked := self._probe.unacked_messages()) is not None:
            self.state.unacked.set(unacked)
        if (memory := self._probe.memory()) is not None:
            self.state.memory_used.set(memory.used_bytes)
            self.state.memory_max.set(memory.max_bytes)
            self.state.memory_alarm.set(int(memory.alarm))

    def _refresh_backlog(self) -> None:
        for reading in backlog.measure(self.app, self._probe, self._queues):
            self.state.backlog.labels(queue_name=reading.queue).set(reading.total)

    def _refresh_consumers(self) -> None:
        # One broadcast per refresh from this single process, as celery-exporter does; the
        # per-worker liveness probe never uses it.
        replies = self.app.control.inspect(timeout=1.0).active_queues() or {}
        per_queue = dict.fromkeys(self._queues, 0)
        for queues in replies.values():
            for queue in queues:
                per_queue[queue["name"]] = per_queue.get(queue["name"], 0) + 1
        for name, workers in per_queue.items():
            self.state.active_workers.labels(queue_name=name).set(workers)

    def _refresh_database(self) -> None:
        lag = outbox_selectors.outbox_lag()
        self.state.outbox_unpublished.set(lag.unpublished)
        self.state.outbox_lag.set(lag.oldest_age_seconds)
        for stuck in selectors.stuck_work():
            self.state.work_stuck.labels(kind=stuck.kind).set(stuck.count)
        now = timezone.now()
        for waiting in due.waiting_work():
            self.state.work_waiting.labels(kind=waiting.kind).set(waiting.count)
            self.state.work_overdue.labels(kind=waiting.kind).set(waiting.overdue_seconds(now))
        self.state.notifications_failed.set(selectors.failed_notification_count())
        for name, age in selectors.periodic_task_ages().items():
            self.state.beat_age.labels(periodic_task=name).set(-1 if age is None else age)
        self.state.transitions.latest = selectors.transitions_by_status()
        if self._last_event_id is None:
            # History before the monitor started was observed by its predecessor.
            self._last_event_id = selectors.latest_payment_event_id()
        for charge in selectors.finished_charges_after(self._last_event_id):
            self.state.e2e.labels(outcome=charge.outcome).observe(charge.seconds)
            self._last_event_id = charge.event_id

    def _refresh_forever(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self._refresh_seconds)
        # Threads own their database connections; close this one on the way out.
        from django.db import connection

        connection.close()

    # --- events ------------------------------------------------------------------------------

    def _capture_events_forever(self) -> None:
        while not self._stop.is_set():
            try:
                with self.app.connection_for_read() as connection:
                    receiver = self.app.events.Receiver(
                        connection, handlers={"*": self.events.handle}
                    )
                    # wakeup asks every worker for a heartbeat now, so workers show at once.
                    for _ in receiver.itercapture(limit=None, timeout=None, wakeup=True):
                        if self._stop.is_set():
                            return
            except Exception:  # broker restart: reconnect after a pause, keep the counts
                logger.warning("event capture lost the broker; reconnecting", exc_info=True)
                self._stop.wait(2.0)

    def run(self, port: int, address: str) -> None:
        """Serve /metrics on (address, port) until interrupted."""
        # Start the end-to-end cursor before the first scrape can happen: every charge
        # finished after the endpoint answers is observed, however late the first refresh.
        self._last_event_id = selectors.latest_payment_event_id()
        server, thread = start_http_server(port, addr=address, registry=self.registry)
        workers = [
            threading.Thread(target=self._refresh_forever, name="refresh", daemon=True),
            threading.Thread(target=self._capture_events_forever, name="events", daemon=True),
        ]
        for worker in workers:
            worker.start()
        logger.info("celery monitor serving http://%s:%s/metrics", address, port)
        try:
            while all(w.is_alive() for w in workers):
                time.sleep(0.5)
        finally:
            self._stop.set()
            server.shutdown()
            thread.join(timeout=5)
