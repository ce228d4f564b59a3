"""Every hot query is served by an index: the plans stay flat as the tables grow.

Sequential scans are priced out of the planner for the check (enable_seqscan = off), so a
plan that still scans the table, or sorts the rows, has no index able to serve it. The
benchmark suite measures the latencies at 1M payments; this keeps them from regressing.
"""

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from outbox import selectors as outbox_selectors
from payments import selectors
from payments.models import Payment
from payments.services import reconciliation_runs
from tests.factories import ApiClientFactory, PaymentFactory


def plan_of(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def hot_queries():
    client = ApiClientFactory()
    payment = PaymentFactory(client=client)
    run = reconciliation_runs.start_run(since=timezone.now() - timedelta(days=2), fix=False)
    fifteen_minutes = timedelta(minutes=15)
    return {
        "accept: earlier payment under a key": Payment.objects.filter(
            client=client, idempotency_key="k"
        ),
        "read: one payment of a client": Payment.objects.filter(client=client, pk=payment.pk),
        "list: a client's first page": selectors.payments_of_client(client).order_by(
            "-created_at", "-id"
        )[:51],
        "list: a client's page by status": selectors.payments_of_client(
            client, status="succeeded"
        ).order_by("-created_at", "-id")[:51],
        "sweeper: stalled payments": selectors.stalled_payments(fifteen_minutes)[:1000],
        "sweeper: stalled refunds": selectors.stalled_refunds(fifteen_minutes)[:1000],
        "sweeper: unapplied webhook events": selectors.unapplied_events(fifteen_minutes)[:1000],
        "sweeper: unpublished outbox rows": outbox_selectors.unpublished_since(fifteen_minutes)[
            :1000
        ],
        "webhook: payment by intent id": Payment.objects.filter(stripe_payment_intent_id="pi_1"),
        "reconciliation: payments of a page of intents": Payment.objects.filter(
            stripe_payment_intent_id__in=["pi_1", "pi_2"]
        ),
        "reconciliation: payments by our id": Payment.objects.filter(
            pk__in=[uuid.uuid4()], stripe_payment_intent_id=""
        ),
        "reconciliation: open runs": selectors.stalled_reconciliation_runs(fifteen_minutes),
        "reconciliation: next local chunk": selectors.paid_payments_with_intent(since=run.since)
        .filter(created_at__lt=run.started_at, created_at__gte=run.since)
        .order_by("created_at", "pk")[:1000],
    }


QUERIES = [
    "accept: earlier payment under a key",
    "read: one payment of a client",
    "list: a client's first page",
    "list: a client's page by status",
    "sweeper: stalled payments",
    "sweeper: stalled refunds",
    "sweeper: unapplied webhook events",
    "sweeper: unpublished outbox rows",
    "webhook: payment by intent id",
    "reconciliation: payments of a page of intents",
    "reconciliation: payments by our id",
    "reconciliation: open runs",
    "reconciliation: next local chunk",
]
SORT_NODE = re.compile(r"^\s*(->\s+)?(Incremental )?Sort\b", re.MULTILINE)


def test_the_list_above_names_every_hot_query(db):
    assert sorted(hot_queries()) == sorted(QUERIES)


@pytest.mark.parametrize("name", QUERIES)
def test_a_hot_query_is_served_by_an_index_in_order(db, name):
    queryset = hot_queries()[name]

    plan = plan_of(queryset)

    assert "Seq Scan" not in plan, plan
    if queryset.query.order_by:
        assert not SORT_NODE.search(plan), f"sorts instead of reading an index in order:\n{plan}"
