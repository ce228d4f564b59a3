"""Queue depth and the on-call screen for a broker filled while no worker runs."""

import re
from datetime import timedelta
from io import StringIO

import pytest
import redis
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from config.celery import app as celery_app
from outbox.models import OutboxMessage
from payments.models import Payment
from tests import processes
from tests.factories import PaymentFactory
from tests.observability.conftest import Scrape, celery_monitor, eventually, stack_environment

pytestmark = pytest.mark.integration

# Celery priority → kombu's Redis sub-queue "<queue>\x06\x16<step>" (steps 0, 3, 6, 9).
PAYMENT_PRIORITIES = [None, 0, 3, 6, 9]


@pytest.fixture(scope="module")
def idle_broker(tmp_path_factory: pytest.TempPathFactory):
    """A Redis holding 5 charge tasks (4 priority levels) and 2 notifications; no worker."""
    directory = tmp_path_factory.mktemp("idle-broker")
    with (
        processes.redis_server(directory) as url,
        celery_app.connection_for_write(url) as connection,
    ):
        for priority in PAYMENT_PRIORITIES:
            celery_app.send_task(
                "payments.charge_payment",
                args=["00000000-0000-0000-0000-000000000000"],
                priority=priority,
                connection=connection,
            )
        for _ in range(2):
            celery_app.send_task(
                "notifications.send_notification", args=["1"], connection=connection
            )
        yield url, directory


def test_the_filled_queues_really_use_priority_sub_queues(idle_broker):
    url, _ = idle_broker
    keys = {key.decode() for key in redis.Redis.from_url(url).keys("charges*")}
    assert keys == {"charges", "charges\x06\x163", "charges\x06\x166", "charges\x06\x169"}


def test_queue_length_counts_every_priority_level(idle_broker, django_db_setup):
    url, directory = idle_broker
    with celery_monitor(stack_environment(directory, url, "http://127.0.0.1:9"), directory) as m:

        def measured() -> None:
            scrape = Scrape(m)
            assert scrape.value("celery_queue_length", queue_name="charges") == 5
            assert scrape.value("celery_queue_length", queue_name="notifications") == 2
            assert scrape.value("celery_queue_length", queue_name="maintenance") == 0
            assert scrape.value("celery_queue_length", queue_name="payments") == 0
            assert scrape.value("celery_queue_oldest_message_age_seconds", queue_name="charges")
            assert scrape.value("celery_active_worker_count", queue_name="charges") == 0
            assert scrape.value("celery_messages_unacked") == 0
            assert scrape.value("celery_broker_memory_used_bytes") > 0
            assert scrape.value("celery_broker_memory_max_bytes") == 0  # maxmemory unset
            assert scrape.value("celery_worker_up") == 0

        eventually(measured)


def _known_state() -> None:
    """One stalled payment, one retry overdue, one outbox row owed for 10 minutes, 3 successes
    and 1 failure."""
    long_ago = timezone.now() - timedelta(minutes=10)
    stalled = PaymentFactory(status="processing")
    # Well past STALLED_PAYMENT_SECONDS (900 s).
    Payment.objects.filter(pk=stalled.pk).update(updated_at=timezone.now() - timedelta(minutes=30))
    PaymentFactory(status="succeeded")  # finished: never stalled
    # Its retry is 10 minutes late (no beat published it): waiting, not yet stuck.
    waiting = PaymentFactory(status="processing")
    Payment.objects.filter(pk=waiting.pk).update(next_attempt_at=long_ago)
    row = OutboxMessage.objects.create(task_name="payments.charge_payment", args=["x"])
    OutboxMessage.objects.filter(pk=row.pk).update(created_at=long_ago, updated_at=long_ago)
    for index, status in enumerate(["SUCCESS", "SUCCESS", "SUCCESS", "FAILURE"]):
        TaskResult.objects.create(task_id=f"known-{index}", status=status)
    every_5s = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="relay-outbox",
        task="outbox.relay_outbox",
        interval=every_5s,
        last_run_at=timezone.now() - timedelta(minutes=5),
    )


def test_queue_status_shows_the_known_state(idle_broker, db):
    url, _ = idle_broker
    _known_state()
    out = StringIO()

    call_command("queue_status", "--broker", url, "--listen", "0.5", stdout=out)

    screen = out.getvalue()
    lines = screen.splitlines()
    assert re.fullmatch(
        r"queue status at \S+ \S+ UTC   broker redis://127\.0\.0\.1:\d+/0", lines[0]
    )
    assert lines[2:8] == [
        "QUEUE                  READY    OLDEST",
        lines[3],
        lines[4],
        lines[5],
        lines[6],
        "unacked (delivered, running or reserved): 0",
    ]
    assert re.fullmatch(r"charges +5 +\d+\.\ds", lines[3])
    assert re.fullmatch(r"maintenance +0 +-", lines[4])
    assert re.fullmatch(r"notifications +2 +\d+\.\ds", lines[5])
    assert re.fullmatch(r"payments +0 +-", lines[6])
    assert re.fullmatch(r"broker memory: \d+\.\d MiB \(no maxmemory set!\)", lines[8])
    assert lines[10:] == [
        "WORKER                                    LAST HEARTBEAT  ACTIVE  STATE",
        "(no worker heartbeat: no worker is running)",
        "",
        "tasks, last 5 min: 3 succeeded, 1 failed (25.0% failure rate)",
        "outbox: 1 unpublished, oldest 10.0m",
        "stuck work (no progress past its threshold; the recovery sweeper re-drives it):",
        "  notification             0   after 15.0m",
        "  outbox                   1   after 60.0s",
        "  payment                  1   after 15.0m",
        "  reconciliation_run       0   after 10.0m",
        "  refund                   0   after 15.0m",
        "  webhook_event            0   after 15.0m",
        "waiting for their next attempt (a retry or a rate-limit deferral):",
        "  notification             0",
        "  payment                  1   earliest OVERDUE by 10.0m",
        "  reconciliation_run       0",
        "  refund                   0",
        "  webhook_event            0",
        "failed notifications (retried by the sweeper): 0",
        "beat: leader NONE: no beat holds the lock",
        "  relay-outbox                          last run 5.0m ago",
    ]
