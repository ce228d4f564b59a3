"""celery_queue_backlog: what KEDA scales the workers on counts work in flight, not only waiting."""

import pytest
import requests

from config import task_names
from outbox.models import OutboxMessage
from tests.integration.conftest import wait_for_final_status
from tests.observability.conftest import Scrape, eventually, pay

pytestmark = pytest.mark.integration

# Each Stripe call of the charge takes this long, so the charge runs for seconds.
STRIPE_LATENCY_MS = 2_500


def test_a_running_charge_counts_in_the_backlog_while_its_queue_is_empty(observed_stack, api_key):
    faults = f"{observed_stack.stripe_url}/_fake/faults"
    requests.post(faults, json={"latency_ms": STRIPE_LATENCY_MS}, timeout=5).raise_for_status()
    try:
        payment_id = pay(observed_stack, api_key).json()["id"]

        def in_flight_only() -> None:
            scrape = Scrape(observed_stack.monitor_url)
            assert scrape.value("celery_queue_length", queue_name="charges") == 0
            assert scrape.value("celery_queue_backlog", queue_name="charges") == 1

        # The worker holds the charge (delivered, unacked) while Stripe answers slowly.
        eventually(in_flight_only, timeout=20)
    finally:
        requests.delete(faults, timeout=5).raise_for_status()
    wait_for_final_status(payment_id)

    eventually(
        lambda: (
            Scrape(observed_stack.monitor_url).value("celery_queue_backlog", queue_name="charges")
            == 0
            or None
        )
    )


def test_outbox_rows_not_yet_published_count_in_their_queues_backlog(observed_stack, api_key):
    # Committed but never published (no beat runs the relay in this stack).
    owed = [
        OutboxMessage.objects.create(task_name=task_names.SEND_NOTIFICATION, args=["1"]),
        OutboxMessage.objects.create(task_name=task_names.RELAY_OUTBOX),
    ]
    try:

        def counted() -> None:
            scrape = Scrape(observed_stack.monitor_url)
            assert scrape.value("celery_queue_backlog", queue_name="notifications") == 1
            assert scrape.value("celery_queue_backlog", queue_name="maintenance") == 1
            assert scrape.value("celery_queue_backlog", queue_name="charges") == 0

        eventually(counted)
    finally:
        OutboxMessage.objects.filter(pk__in=[row.pk for row in owed]).delete()
