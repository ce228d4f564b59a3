"""The admin an on-call engineer uses: search, filters, read-only money, event history."""

import pytest

from payments.models import PaymentEvent
from tests.factories import PaymentFactory


@pytest.fixture
def payment(db):
    payment = PaymentFactory(
        idempotency_key="order-77", stripe_payment_intent_id="pi_abc123", trace_id="a" * 32
    )
    PaymentEvent.objects.create(
        payment=payment, to_status="pending", actor="api:shop", trace_id="a" * 32
    )
    return payment


@pytest.mark.parametrize("term", ["order-77", "pi_abc123", "a" * 32])
def test_payments_are_found_by_key_intent_and_trace_id(admin_client, payment, term):
    other = PaymentFactory()

    page = admin_client.get("/admin/payments/payment/", {"q": term}).content.decode()

    assert str(payment.id) in page
    assert str(other.id) not in page


def test_payments_filter_by_status(admin_client, payment):
    failed = PaymentFactory(status="failed")

    page = admin_client.get("/admin/payments/payment/", {"status__exact": "failed"}).content
    assert str(failed.id).encode() in page
    assert str(payment.id).encode() not in page


def test_the_change_page_shows_history_and_trace_and_keeps_money_read_only(admin_client, payment):
    url = f"/admin/payments/payment/{payment.id}/change/"

    page = admin_client.get(url).content.decode()
    admin_client.post(url, {"amount": 1, "status": "succeeded", "description": "x"})

    assert "api:shop" in page
    assert "a" * 32 in page
    assert 'name="amount"' not in page
    payment.refresh_from_db()
    assert (payment.amount, payment.status) == (2000, "pending")


def test_events_cannot_be_edited_or_deleted(admin_client, payment):
    event = payment.events.get()

    assert admin_client.get(f"/admin/payments/paymentevent/{event.pk}/delete/").status_code == 403
    with pytest.raises(ValueError, match="append-only"):
        event.save()
