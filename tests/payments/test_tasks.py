"""Task names, queues and retry policies: one contract between publishers and workers."""

import pytest
from django.db import OperationalError

from config import task_names
from config.celery import app
from payments import tasks
from payments.exceptions import RetryableError, TerminalError
from payments.gateways.base import CardDeclined, GatewayUnavailable

ALL_NAMES = [
    value for name, value in vars(task_names).items() if name.isupper() and isinstance(value, str)
]


def test_every_task_name_is_a_registered_task():
    app.loader.import_default_modules()
    assert sorted(set(ALL_NAMES) - set(app.tasks)) == []


@pytest.mark.parametrize(
    ("name", "queue"),
    [
        (task_names.CHARGE_PAYMENT, "payments"),
        (task_names.REFUND_PAYMENT, "payments"),
        (task_names.PROCESS_STRIPE_EVENT, "payments"),
        (task_names.SEND_NOTIFICATION, "notifications"),
        (task_names.RELAY_OUTBOX, "maintenance"),
        (task_names.RECONCILE_WITH_STRIPE, "maintenance"),
    ],
)
def test_each_task_is_routed_to_its_queue(name, queue):
    assert app.amqp.router.route({}, name)["queue"].name == queue


@pytest.mark.parametrize("task", [tasks.charge_payment, tasks.refund_payment])
def test_gateway_tasks_retry_what_decided_nothing_and_only_that(task):
    retried = task.autoretry_for

    assert issubclass(GatewayUnavailable, retried)
    assert issubclass(OperationalError, retried)
    assert issubclass(RetryableError, retried)
    assert not issubclass(CardDeclined, retried)
    assert not issubclass(TerminalError, retried)
