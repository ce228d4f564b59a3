"""The admin's buttons, pressed through the admin pages: each one audited as staff:<user>."""

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from outbox.models import OutboxMessage
from payments import admin_actions, services
from payments.models import Payment, Refund
from tests.factories import PaymentFactory

CHANGELIST = "/admin/payments/payment/"


def act(admin_client, action: str, payments, follow=True, **fields):
    data = {"action": action, "_selected_action": [str(p.pk) for p in payments], **fields}
    return admin_client.post(CHANGELIST, data, follow=follow)


def charge_jobs(payment) -> int:
    return OutboxMessage.objects.filter(
        task_name="payments.charge_payment", args=[str(payment.pk)]
    ).count()


def test_refund_shows_a_form_then_refunds_once_per_submitted_form(admin_client, db):
    payment = PaymentFactory(status="succeeded", amount=1_000)

    page = act(admin_client, "refund_payments", [payment], follow=False)
    key = page.context["form"].initial["operation_key"]
    fields = {"apply": "1", "amount": "250", "reason": "duplicate", "operation_key": str(key)}
    act(admin_client, "refund_payments", [payment], **fields)
    act(admin_client, "refund_payments", [payment], **fields)  # the same page sent twice

    assert page.status_code == 200
    assert b'name="amount"' in page.content
    refund = Refund.objects.get()
    assert (refund.amount, refund.reason, refund.requested_by) == (250, "duplicate", "staff:admin")
    payment.refresh_from_db()
    assert payment.amount_refunded == 250
    event = payment.events.get()
    assert (event.actor, event.reason) == ("staff:admin", f"refund {refund.pk} of 250 requested")


def test_refund_goes_through_the_same_checks_as_the_api(admin_client, db):
    pending = PaymentFactory(status="pending")
    fields = {"apply": "1", "amount": "", "reason": "", "operation_key": "7" * 32}

    page = act(admin_client, "refund_payments", [pending], **fields)

    assert "only succeeded or partially refunded" in page.content.decode()
    assert Refund.objects.count() == 0
    assert pending.events.count() == 0


def test_retry_now_republishes_the_charge_for_unfinished_payments_only(admin_client, db):
    stuck = PaymentFactory(status="processing")
    done = PaymentFactory(status="succeeded")

    page = act(admin_client, "retry_charge_now", [stuck, done])

    assert (charge_jobs(stuck), charge_jobs(done)) == (1, 0)
    assert list(stuck.events.values_list("actor", "reason")) == [
        ("staff:admin", "charge re-published by hand")
    ]
    assert done.events.count() == 0
    assert "only unfinished charges retry" in page.content.decode()


def test_mark_failed_asks_why_and_never_fails_a_succeeded_payment(
    admin_client, db, gateway, monkeypatch
):
    monkeypatch.setattr(admin_actions, "get_gateway", lambda: gateway)
    stuck = PaymentFactory(status="processing")
    paid = PaymentFactory(status="succeeded")

    form = act(admin_client, "mark_failed", [stuck, paid], follow=False)
    act(admin_client, "mark_failed", [stuck, paid], apply="1", reason="customer gave up")

    assert b'name="reason"' in form.content
    stuck.refresh_from_db()
    paid.refresh_from_db()
    assert (stuck.status, stuck.failure_code, stuck.failure_message) == (
        "failed",
        "marked_failed",
        "customer gave up",
    )
    assert list(stuck.events.values_list("from_status", "to_status", "actor")) == [
        ("processing", "failed", "staff:admin")
    ]
    assert paid.status == "succeeded"
    assert paid.events.count() == 0


def test_reconcile_fixes_a_payment_stripe_charged_as_staff(
    admin_client, db, gateway, fake_stripe_url, monkeypatch
):
    monkeypatch.setattr(admin_actions, "get_gateway", lambda: gateway)
    payment = PaymentFactory(payment_method="pm_card_chargeDeclined")
    services.charge_payment(str(payment.id), gateway)
    payment.refresh_from_db()
    requests.post(
        f"{fake_stripe_url}/_fake/payment_intents/{payment.stripe_payment_intent_id}",
        json={"status": "succeeded", "emit_events": False},
        timeout=5,
    ).raise_for_status()

    page = act(admin_client, "reconcile_with_stripe", [payment])

    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert list(payment.events.values_list("from_status", "to_status", "actor"))[-2:] == [
        ("failed", "succeeded", "staff:admin"),
        ("succeeded", "succeeded", "staff:admin"),
    ]
    assert payment.events.last().reason == (
        "reconciled with Stripe: paid_at_stripe_not_here (fixed)"
    )
    assert "paid_at_stripe_not_here" in page.content.decode()


def test_the_stalled_filter_lists_old_payments_whose_charge_is_owed(admin_client, db):
    old = timezone.now() - timedelta(minutes=90)
    stalled = PaymentFactory(status="processing")
    waiting = PaymentFactory(status="requires_action")
    finished = PaymentFactory(status="failed")
    fresh = PaymentFactory(status="pending")
    Payment.objects.filter(pk__in=[stalled.pk, waiting.pk, finished.pk]).update(updated_at=old)

    page = admin_client.get(CHANGELIST, {"stalled_minutes": "60"}).content.decode()

    assert str(stalled.id) in page
    # Waiting for the customer's 3-D Secure is not stalled: the sweeper leaves it too.
    assert str(waiting.id) not in page
    assert str(finished.id) not in page
    assert str(fresh.id) not in page


@pytest.mark.parametrize("action", [a.__name__ for a in admin_actions.PAYMENT_ACTIONS])
def test_every_action_is_offered_on_the_changelist(admin_client, db, action):
    PaymentFactory()  # the actions menu only shows over a non-empty list
    assert f'value="{action}"' in admin_client.get(CHANGELIST).content.decode()
