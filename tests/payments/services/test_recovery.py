"""The recovery sweeper and the operator commands that re-drive work from PostgreSQL."""

from datetime import timedelta
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from outbox import recovery
from outbox.models import OutboxMessage
from payments import services
from payments.models import Payment, Refund, StripeEvent
from tests.factories import PaymentFactory
from tests.payments.stripe_events import event, intent


def charge_jobs_for(payment: Payment) -> int:
    return OutboxMessage.objects.filter(
        task_name="payments.charge_payment", args=[str(payment.pk)]
    ).count()


def make_stale(*payments: Payment, minutes: int = 30) -> None:
    Payment.objects.filter(pk__in=[p.pk for p in payments]).update(
        updated_at=timezone.now() - timedelta(minutes=minutes)
    )


def test_only_unfinished_payments_without_recent_progress_are_re_driven(db):
    stalled_pending = PaymentFactory()
    stalled_processing = PaymentFactory(status="processing")
    finished = PaymentFactory(status="succeeded")
    fresh = PaymentFactory()
    make_stale(stalled_pending, stalled_processing, finished)

    assert services.recover_stalled_payments(older_than=timedelta(minutes=10)) == 2

    assert [charge_jobs_for(p) for p in (stalled_pending, stalled_processing)] == [1, 1]
    assert [charge_jobs_for(p) for p in (finished, fresh)] == [0, 0]
    # Re-driving counts as progress: the next sweep leaves them alone for a period.
    assert services.recover_stalled_payments(older_than=timedelta(minutes=10)) == 0


def test_payments_recover_dry_run_lists_and_changes_nothing(db):
    payment = PaymentFactory()
    make_stale(payment)
    out = StringIO()

    call_command("payments_recover", "--older-than", "60", "--dry-run", stdout=out)

    assert str(payment.pk) in out.getvalue()
    assert "1 stalled payment(s); nothing changed" in out.getvalue()
    assert charge_jobs_for(payment) == 0


def test_payments_recover_re_publishes(db):
    payment = PaymentFactory()
    make_stale(payment)
    out = StringIO()

    call_command("payments_recover", "--older-than", "60", stdout=out, stderr=StringIO())

    assert "re-published 1 of 1 stalled payment(s)" in out.getvalue()
    assert charge_jobs_for(payment) == 1


def test_payments_replay_re_publishes_every_unfinished_payment_since(db):
    old = PaymentFactory()
    recent = PaymentFactory(status="processing")
    done = PaymentFactory(status="failed")
    Payment.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    out = StringIO()

    since = (timezone.now() - timedelta(hours=1)).isoformat()
    call_command("payments_replay", "--since", since, stdout=out, stderr=StringIO())
    call_command("payments_replay", "--since", since, stdout=out, stderr=StringIO())

    assert [charge_jobs_for(p) for p in (old, recent, done)] == [0, 2, 0]


def test_payments_replay_by_ids(db):
    chosen, other = PaymentFactory(), PaymentFactory()

    call_command("payments_replay", "--ids", str(chosen.pk), stdout=StringIO(), stderr=StringIO())

    assert (charge_jobs_for(chosen), charge_jobs_for(other)) == (1, 0)


def test_payments_replay_refuses_a_bad_date(db):
    with pytest.raises(CommandError, match="not an ISO date-time"):
        call_command("payments_replay", "--since", "yesterday")


def jobs_for(task_name: str, pk: object) -> int:
    return OutboxMessage.objects.filter(task_name=task_name, args=[str(pk)]).count()


def stale(model, *rows, minutes: int = 30) -> None:
    model.objects.filter(pk__in=[row.pk for row in rows]).update(
        updated_at=timezone.now() - timedelta(minutes=minutes)
    )


def pending_refund(payment: Payment, key: str = "r-1") -> Refund:
    return Refund.objects.create(
        payment=payment, idempotency_key=key, amount=100, requested_by="api:test"
    )


def received_event(status: str = "received") -> StripeEvent:
    data = event("payment_intent.succeeded", intent("pi_1", "succeeded"))
    return StripeEvent.objects.create(
        event_id=data["id"],
        event_type=data["type"],
        object_id="pi_1",
        stripe_created=data["created"],
        payload=data,
        status=status,
    )


def test_a_refund_whose_message_was_lost_is_re_driven_not_left_pending(db, settings):
    settings.STALLED_REFUND_SECONDS = 900
    payment = PaymentFactory(status="succeeded", amount_refunded=200)
    lost, fresh = pending_refund(payment, "r-1"), pending_refund(payment, "r-2")
    settled = pending_refund(payment, "r-3")
    Refund.objects.filter(pk=settled.pk).update(status="succeeded")
    stale(Refund, lost, settled)

    assert recovery.recover_stuck_work()["refund"] == 1

    assert [jobs_for("payments.refund_payment", r.pk) for r in (lost, fresh, settled)] == [1, 0, 0]
    assert recovery.recover_stuck_work()["refund"] == 0


def test_a_webhook_event_left_received_is_processed_again(db, settings):
    settings.STALLED_WEBHOOK_EVENT_SECONDS = 900
    left, applied = received_event(), received_event(status="processed")
    stale(StripeEvent, left, applied)

    assert recovery.recover_stuck_work()["webhook_event"] == 1

    assert jobs_for("payments.process_stripe_event", left.pk) == 1
    assert jobs_for("payments.process_stripe_event", applied.pk) == 0


def test_every_kind_of_durable_work_is_registered_with_the_sweeper(db):
    assert [kind.name for kind in recovery.kinds()] == [
        "notification",
        "outbox",
        "payment",
        "reconciliation_run",
        "refund",
        "webhook_event",
    ]
    assert set(recovery.stuck_counts().values()) == {0}


def test_payments_replay_covers_refunds_and_webhook_events(db):
    payment = PaymentFactory(status="succeeded", amount_refunded=100)
    refund, inbox = pending_refund(payment), received_event()
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    out = StringIO()

    call_command("payments_replay", "--since", since, stdout=out, stderr=StringIO())

    assert jobs_for("payments.refund_payment", refund.pk) == 1
    assert jobs_for("payments.process_stripe_event", inbox.pk) == 1
    assert "1 refund(s), 1 webhook event(s)" in out.getvalue()


def test_a_second_sweep_while_one_runs_re_drives_nothing(db, settings):
    settings.STALLED_REFUND_SECONDS = 900
    lost = pending_refund(PaymentFactory(status="succeeded", amount_refunded=100))
    stale(Refund, lost)
    database = connection.settings_dict
    running_sweep = psycopg.connect(
        host=database["HOST"],
        port=database["PORT"],
        user=database["USER"],
        dbname=database["NAME"],
        autocommit=True,
    )
    try:
        running_sweep.execute("SELECT pg_advisory_lock(%s)", [recovery.SWEEP_LOCK_KEY])

        assert recovery.recover_stuck_work() == {}
        assert jobs_for("payments.refund_payment", lost.pk) == 0
    finally:
        running_sweep.close()

    assert recovery.recover_stuck_work()["refund"] == 1
