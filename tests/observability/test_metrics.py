"""Metrics scraped from the real endpoints after real tasks ran through a real worker."""

import socket
from pathlib import Path

import pytest
import requests

from config.celery import app as celery_app
from config.queues import WORK_QUEUES
from notifications.models import Notification, NotificationStatus
from tests.integration.conftest import wait_for, wait_for_final_status
from tests.observability.conftest import WORKER_NAME, Scrape, eventually, pay

pytestmark = pytest.mark.integration

WORKER_HOSTNAME = f"{WORKER_NAME}@{socket.gethostname()}"
CHARGE = {"name": "payments.charge_payment", "queue_name": "charges"}
NOTIFY = {"name": "notifications.send_notification", "queue_name": "notifications"}


class Delta:
    """What a metric gained between a scrape taken now and a later one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.before = Scrape(url)

    def of(self, metric: str, /, **labels: str) -> float:
        return Scrape(self.url).value(metric, **labels) - self.before.value(metric, **labels)


def test_task_and_payment_counts_match_what_the_worker_did(observed_stack, api_key):
    monitor = Delta(observed_stack.monitor_url)
    worker = Delta(observed_stack.worker_metrics_url)

    approved = [pay(observed_stack, api_key).json()["id"] for _ in range(3)]
    declined = [
        pay(observed_stack, api_key, payment_method="pm_card_chargeDeclined").json()["id"]
        for _ in range(2)
    ]
    for payment_id in approved + declined:
        wait_for_final_status(payment_id)
    wait_for(
        lambda: Notification.objects.filter(status=NotificationStatus.SENT).count() == 5,
        timeout=30,
    )

    def counted() -> None:
        on_worker = {**CHARGE, "hostname": WORKER_HOSTNAME}
        assert monitor.of("celery_task_sent_total", **CHARGE) == 5
        assert monitor.of("celery_task_received_total", **on_worker) == 5
        assert monitor.of("celery_task_started_total", **on_worker) == 5
        assert monitor.of("celery_task_succeeded_total", **on_worker) == 5
        assert monitor.of("celery_task_runtime_count", **on_worker) == 5
        assert monitor.of("celery_task_failed_total", **CHARGE) == 0
        assert monitor.of("celery_task_retried_total", **CHARGE) == 0
        assert monitor.of("celery_task_succeeded_total", **NOTIFY) == 5
        assert monitor.of("celery_task_duplicate_executions_total") == 0
        assert monitor.of("payments_total", status="pending") == 5
        assert monitor.of("payments_total", status="processing") == 5
        assert monitor.of("payments_total", status="succeeded") == 3
        assert monitor.of("payments_total", status="failed") == 2
        assert monitor.of("payments_e2e_duration_seconds_count", outcome="succeeded") == 3
        assert monitor.of("payments_e2e_duration_seconds_count", outcome="failed") == 2

    eventually(counted)
    # One call per payment: the create confirms, so declines come from it.
    create, confirm = "payment_intents.create", "payment_intents.confirm"
    assert worker.of("payments_stripe_requests_total", endpoint=create) == 5
    assert worker.of("payments_stripe_requests_total", endpoint=confirm) == 0
    assert worker.of("payments_stripe_request_duration_seconds_count", endpoint=create) == 5
    assert worker.of("payments_stripe_errors_total", endpoint=create, error="CardDeclined") == 2


def test_a_failing_task_is_counted_with_its_exception_class_only(observed_stack):
    monitor = Delta(observed_stack.monitor_url)

    with celery_app.connection_for_write(observed_stack.broker_url) as connection:
        celery_app.send_task(NOTIFY["name"], args=["987654321"], connection=connection)

    def counted() -> None:
        assert monitor.of("celery_task_failed_total", **NOTIFY, exception="DoesNotExist") == 1
        assert monitor.of("celery_task_failed_total", **NOTIFY) == 1

    eventually(counted)


def test_the_monitor_sees_the_worker_and_its_queues(observed_stack):
    def seen() -> None:
        scrape = Scrape(observed_stack.monitor_url)
        assert scrape.value("celery_worker_up", hostname=WORKER_HOSTNAME) == 1
        assert scrape.has("celery_worker_tasks_active", hostname=WORKER_HOSTNAME)
        assert scrape.value("celery_worker_last_heartbeat_timestamp", hostname=WORKER_HOSTNAME)
        for queue in WORK_QUEUES:
            assert scrape.value("celery_active_worker_count", queue_name=queue) == 1
            assert scrape.value("celery_queue_length", queue_name=queue) == 0
        assert scrape.has("celery_broker_memory_used_bytes")
        assert scrape.has("payments_outbox_lag_seconds")
        for kind in ("payment", "refund", "webhook_event", "notification", "outbox"):
            assert scrape.value("payments_work_stuck", kind=kind) == 0
        for kind in ("payment", "refund", "webhook_event", "notification"):
            assert scrape.value("payments_work_waiting", kind=kind) == 0
            assert scrape.value("payments_work_next_attempt_overdue_seconds", kind=kind) == 0
        assert scrape.value("payments_notifications_failed") == 0

    eventually(seen)


def test_web_metrics_add_up_across_gunicorn_workers(observed_stack):
    web_metrics = f"{observed_stack.web_url}/metrics"
    web = Delta(web_metrics)

    for _ in range(20):
        # A new connection each time, so both gunicorn workers answer some of them.
        assert requests.get(f"{observed_stack.web_url}/healthz", timeout=5).status_code == 200

    assert web.of("http_requests_total", method="GET", route="healthz", status="200") == 20
    samples_dir = Path(observed_stack.directory / "prometheus-web")
    writers = {path.stem.rsplit("_", 1)[-1] for path in samples_dir.glob("counter_*.db")}
    assert len(writers) == 2, "both gunicorn workers wrote samples"
