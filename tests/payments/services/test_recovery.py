"""Sweepers and operator commands that re-drive payments from PostgreSQL."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from outbox.models import OutboxMessage
from payments import services
from payments.models import Payment
from tests.factories import PaymentFactory


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
