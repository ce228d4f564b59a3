"""Work scheduled for a next attempt: published by the beat when due, never stuck meanwhile."""

import json
from base64 import b64decode
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from config import task_names
from config.queues import WORK_QUEUES
from monitoring import selectors as monitoring_selectors
from notifications.models import Notification
from outbox import due
from payments import selectors
from payments.models import Payment
from tests.factories import PaymentFactory


@pytest.fixture
def broker(private_broker):
    # Empty the queues, not the database: FLUSHDB would also drop kombu's exchange bindings.
    client = redis.Redis.from_url(private_broker)
    client.delete(*WORK_QUEUES)
    yield client
    client.delete(*WORK_QUEUES)


def queued(broker: redis.Redis, queue: str = "charges") -> list[tuple[str, list[str]]]:
    messages = [json.loads(raw) for raw in broker.lrange(queue, 0, -1)]
    return [(m["headers"]["task"], json.loads(b64decode(m["body"]))[0]) for m in messages]


def scheduled(payment: Payment, seconds: float, **fields) -> Payment:
    Payment.objects.filter(pk=payment.pk).update(
        next_attempt_at=timezone.now() + timedelta(seconds=seconds), **fields
    )
    payment.refresh_from_db()
    return payment


def test_due_work_is_published_once_and_loses_its_time(db, broker):
    due_now = scheduled(PaymentFactory(status="processing"), -1, retries=2)
    later = scheduled(PaymentFactory(status="processing"), 60)

    assert due.publish_due_work() == {
        "notification": 0,
        "payment": 1,
        "reconciliation_run": 0,
        "refund": 0,
        "webhook_event": 0,
    }

    assert queued(broker) == [(task_names.CHARGE_PAYMENT, [str(due_now.pk)])]
    due_now.refresh_from_db()
    assert (due_now.next_attempt_at, due_now.retries) == (None, 2)  # the budget carries on
    later.refresh_from_db()
    assert later.next_attempt_at is not None
    # Published means no longer due: the next tick sends nothing again.
    assert due.publish_due_work()["payment"] == 0
    assert len(queued(broker)) == 1


def test_work_that_finished_while_it_waited_is_not_published(db, broker):
    finished = scheduled(PaymentFactory(status="succeeded"), -1)

    assert due.publish_due_work()["payment"] == 0

    assert queued(broker) == []
    finished.refresh_from_db()
    assert finished.next_attempt_at is None


def test_a_refused_publish_leaves_the_work_due(db, broker, monkeypatch):
    from kombu.exceptions import OperationalError

    from config.celery import app

    def refuse(*args, **kwargs):
        raise OperationalError("broker down")

    monkeypatch.setattr(app, "send_task", refuse)
    waiting = scheduled(PaymentFactory(status="processing"), -1)

    assert due.publish_due_work()["payment"] == 0

    waiting.refresh_from_db()
    assert waiting.next_attempt_at is not None


def test_due_notifications_go_to_their_queue(db, broker):
    notification = Notification.objects.create(
        kind="receipt", subject="payment:1", dedupe_key="receipt:payment:1", recipient="a@b.test"
    )
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())

    assert due.publish_due_work()["notification"] == 1

    assert queued(broker, "notifications") == [
        (task_names.SEND_NOTIFICATION, [str(notification.pk)])
    ]


def test_waiting_work_is_not_stuck_until_it_is_overdue_by_a_threshold(db):
    old = timezone.now() - timedelta(hours=1)
    waiting = PaymentFactory(status="processing")
    overdue = PaymentFactory(status="processing")
    Payment.objects.filter(pk=waiting.pk).update(
        updated_at=old, next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    Payment.objects.filter(pk=overdue.pk).update(updated_at=old, next_attempt_at=old)

    stalled = selectors.stalled_payments(timedelta(minutes=15))

    assert list(stalled) == [overdue]


def test_waiting_work_is_counted_with_its_earliest_attempt(db):
    soon = timezone.now() + timedelta(seconds=30)
    scheduled(PaymentFactory(status="processing"), 30)
    scheduled(PaymentFactory(status="pending"), 90)
    scheduled(PaymentFactory(status="failed"), 10)  # finished: waits for nothing

    waiting = {w.kind: w for w in due.waiting_work()}

    assert waiting["payment"].count == 2
    assert abs((waiting["payment"].earliest - soon).total_seconds()) < 1
    assert waiting["payment"].overdue_seconds(timezone.now()) == 0
    assert waiting["refund"] == due.Waiting("refund", 0, None)
    late = waiting["payment"].overdue_seconds(soon + timedelta(seconds=12))
    assert late == pytest.approx(12, abs=1)
    # The stuck counts the monitor exports leave waiting work out.
    assert {s.kind: s.count for s in monitoring_selectors.stuck_work()}["payment"] == 0
