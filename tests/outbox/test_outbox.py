"""The outbox: rows written with the data, published after commit, relayed when missed."""

import json
from datetime import timedelta
from io import StringIO

import pytest
import redis
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from config import task_names
from outbox import services as outbox
from outbox.models import OutboxMessage

TASK = task_names.CHARGE_PAYMENT


@pytest.fixture
def broker(private_broker):
    # Empty the queue, not the database: FLUSHDB would also drop kombu's exchange bindings,
    # and this process's producer (which declared them once) would then publish into nothing.
    client = redis.Redis.from_url(private_broker)
    client.delete("charges")
    yield client
    client.delete("charges")


def queued_task_ids(broker: redis.Redis, queue: str = "charges") -> list[str]:
    return [json.loads(raw)["headers"]["id"] for raw in broker.lrange(queue, 0, -1)]


def make_old(message: OutboxMessage, seconds: float = 60) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_a_row_is_published_once_its_transaction_commits(
    db, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        message = outbox.enqueue(TASK, "p-1")
        assert queued_task_ids(broker) == []  # nothing leaves before COMMIT

    assert len(callbacks) == 1
    message.refresh_from_db()
    assert message.published_at is not None
    # The row id is the task id: a double publish is recognisable downstream.
    assert queued_task_ids(broker) == [str(message.pk)]


def test_a_rolled_back_transaction_leaves_neither_row_nor_message(db, broker):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.enqueue(TASK, "p-1")
        raise RuntimeError("the request failed")

    assert OutboxMessage.objects.count() == 0
    assert queued_task_ids(broker) == []


def test_a_refused_publish_keeps_the_row_for_the_relay(db, monkeypatch):
    # Unit level: the broker's refusal is simulated here; the chaos suite kills real brokers.
    from kombu.exceptions import OperationalError

    from config.celery import app

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app, "send_task", refuse)
    message = OutboxMessage.objects.create(task_name=TASK, args=["p-1"])

    assert outbox.publish(message) is False

    message.refresh_from_db()
    assert message.published_at is None
    assert message.publish_attempts == 1
    assert message.last_error == "OperationalError"


def test_the_relay_publishes_rows_older_than_the_grace_period_only(db, broker):
    old = OutboxMessage.objects.create(task_name=TASK, args=["old"])
    make_old(old)
    young = OutboxMessage.objects.create(task_name=TASK, args=["young"])
    done = OutboxMessage.objects.create(task_name=TASK, args=["done"], published_at=timezone.now())
    make_old(done)

    assert outbox.relay_unpublished(grace_seconds=5) == 1

    assert queued_task_ids(broker) == [str(old.pk)]
    young.refresh_from_db()
    assert young.published_at is None


def test_outbox_status_shows_waiting_work(db):
    OutboxMessage.objects.create(task_name=TASK, args=["x"], last_error="OperationalError")
    out = StringIO()

    call_command("outbox_status", stdout=out)

    assert TASK in out.getvalue()
    assert "OperationalError" in out.getvalue()
