"""The webhook inbox through POST /api/v1/webhooks/stripe: stored once, applied forward-only."""

import time

import pytest
from django.test import Client

from notifications.models import Notification
from outbox.models import OutboxMessage
from payments import services
from payments.gateways import get_gateway
from payments.models import PaymentEvent, Refund, StripeEvent
from tests.factories import PaymentFactory
from tests.payments import stripe_events
from tests.payments.stripe_events import body, event, intent, signature_header

URL = "/api/v1/webhooks/stripe"
SECRET = "whsec_current"
OLD_SECRET = "whsec_previous"


@pytest.fixture(autouse=True)
def webhook_secrets(settings):
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET, OLD_SECRET]


@pytest.fixture
def web(db) -> Client:
    # CSRF enforced as a browser would see it: the endpoint must not need a token.
    return Client(enforce_csrf_checks=True)


def deliver(web: Client, data: dict, secret: str = SECRET, timestamp: int | None = None, **kw):
    payload = body(data)
    header = kw.pop("header", None) or signature_header(payload, secret, timestamp)
    return web.post(URL, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def process_all() -> list[str]:
    ids = StripeEvent.objects.order_by("pk").values_list("pk", flat=True)
    return [services.process_event(pk, get_gateway()) for pk in ids]


def jobs() -> list[list[str]]:
    return [m.args for m in OutboxMessage.objects.filter(task_name="payments.process_stripe_event")]


@pytest.mark.parametrize("secret", [SECRET, OLD_SECRET])
def test_a_signed_event_is_stored_answered_200_and_queued(web, secret):
    data = event("payment_intent.succeeded", intent("pi_1", "succeeded"))

    response = deliver(web, data, secret)

    assert (response.status_code, response.json()) == (200, {"received": True})
    stored = StripeEvent.objects.get()
    assert (stored.event_id, stored.object_id, stored.status) == (data["id"], "pi_1", "received")
    assert stored.payload == data
    assert jobs() == [[str(stored.pk)]]


@pytest.mark.parametrize(
    ("secret", "age", "header"),
    [
        ("whsec_someone_else", 0, None),
        (SECRET, 3600, None),  # an old delivery replayed
        (SECRET, -3600, None),
        (SECRET, 0, "t=abc,v1=00"),
        (SECRET, 0, "v1=00"),
    ],
)
def test_a_bad_signature_is_400_and_stored_nowhere(web, secret, age, header):
    data = event("payment_intent.succeeded", intent("pi_1", "succeeded"))

    response = deliver(web, data, secret, int(time.time()) - age, header=header)

    assert response.status_code == 400
    assert response.json()["code"] == "webhook_signature_invalid"
    assert StripeEvent.objects.count() == 0
    assert jobs() == []


def test_a_forged_delivery_never_touches_the_database(web, django_assert_num_queries):
    # Anyone can send these; each would otherwise hold a connection per gunicorn thread.
    data = event("payment_intent.succeeded", intent("pi_1", "succeeded"))

    with django_assert_num_queries(0):
        response = deliver(web, data, "whsec_someone_else")

    assert response.status_code == 400


def test_a_missing_signature_and_a_signed_non_event_are_400(web):
    assert web.post(URL, b"{}", content_type="application/json").status_code == 400
    payload = b'{"hello": "world"}'
    signed = web.post(
        URL,
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature_header(payload, SECRET),
    )
    assert signed.json()["code"] == "webhook_payload_invalid"
    assert StripeEvent.objects.count() == 0


def test_one_of_several_signatures_may_match(web):
    data = event("payment_intent.succeeded", intent("pi_1", "succeeded"))
    good = signature_header(body(data), SECRET)
    header = f"{good},v1={'0' * 64}"

    assert deliver(web, data, header=header).status_code == 200


def test_the_same_event_delivered_five_times_is_applied_once(web):
    payment = PaymentFactory(
        status="processing", stripe_payment_intent_id="pi_5", customer_email="b@example.com"
    )
    data = event("payment_intent.succeeded", intent("pi_5", "succeeded"))

    answers = [deliver(web, data).status_code for _ in range(5)]
    outcomes = [
        services.process_event(StripeEvent.objects.get().pk, get_gateway()) for _ in range(5)
    ]

    assert answers == [200] * 5
    assert outcomes == ["processed"] * 5
    assert StripeEvent.objects.count() == 1
    assert len(jobs()) == 1
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert list(payment.events.values_list("from_status", "to_status", "actor")) == [
        ("processing", "succeeded", "stripe:webhook")
    ]
    assert Notification.objects.filter(kind="receipt").count() == 1


def test_a_failure_arriving_after_success_changes_nothing(web):
    payment = PaymentFactory(status="processing", stripe_payment_intent_id="pi_7")
    declined = {"code": "card_declined", "decline_code": "generic_decline", "message": "no"}
    deliver(web, event("payment_intent.succeeded", intent("pi_7", "succeeded")))
    deliver(
        web,
        event(
            "payment_intent.payment_failed",
            intent("pi_7", "requires_payment_method", error=declined),
        ),
    )

    process_all()

    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("succeeded", "")
    assert payment.events.count() == 1
    late = StripeEvent.objects.get(event_type="payment_intent.payment_failed")
    assert (late.status, late.outcome) == ("processed", "no change: payment is succeeded")
    assert not Notification.objects.filter(kind="payment_failed").exists()


def test_a_3ds_payment_completed_later_succeeds(web):
    payment = PaymentFactory(status="requires_action", stripe_payment_intent_id="pi_3ds")

    deliver(web, event("payment_intent.succeeded", intent("pi_3ds", "succeeded")))
    process_all()

    payment.refresh_from_db()
    assert payment.status == "succeeded"


def test_a_decline_fails_a_processing_payment_with_stripes_code(web):
    payment = PaymentFactory(status="processing", stripe_payment_intent_id="pi_d")
    error = {"code": "card_declined", "decline_code": "insufficient_funds", "message": "funds"}

    deliver(
        web,
        event(
            "payment_intent.payment_failed", intent("pi_d", "requires_payment_method", error=error)
        ),
    )
    process_all()

    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", "insufficient_funds")


def test_an_intent_whose_id_was_never_stored_is_found_by_our_payment_id(web):
    payment = PaymentFactory(status="processing")

    deliver(web, event("payment_intent.canceled", intent("pi_x", "canceled", str(payment.id))))
    process_all()

    payment.refresh_from_db()
    assert (payment.status, payment.stripe_payment_intent_id) == ("canceled", "pi_x")


def test_unknown_types_are_stored_and_ignored_and_unknown_intents_kept(web):
    deliver(web, event("customer.created", {"id": "cus_1", "object": "customer"}))
    deliver(web, event("payment_intent.succeeded", intent("pi_nobody", "succeeded")))

    process_all()

    by_type = dict(StripeEvent.objects.values_list("event_type", "status"))
    assert by_type == {"customer.created": "ignored", "payment_intent.succeeded": "unmatched"}
    assert len(jobs()) == 1
    assert PaymentEvent.objects.count() == 0


def test_refund_events_settle_a_pending_refund_once(web):
    payment = PaymentFactory(status="succeeded", stripe_payment_intent_id="pi_r", amount=1_000)
    refund = services.request_refund(
        payment_id=payment.pk, amount=400, idempotency_key="k", requested_by="api:shop"
    )
    stripe_refund = {
        "id": "re_1",
        "object": "refund",
        "amount": 400,
        "status": "succeeded",
        "payment_intent": "pi_r",
        "metadata": {"refund_id": str(refund.pk), "payment_id": str(payment.pk)},
    }
    deliver(web, event("refund.created", stripe_refund))
    deliver(web, event("refund.updated", {**stripe_refund, "status": "pending"}))
    charge = {"id": "ch_1", "object": "charge", "payment_intent": "pi_r", "amount_refunded": 400}
    deliver(web, event("charge.refunded", charge))

    assert process_all() == ["processed"] * 3

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert (refund.status, refund.stripe_refund_id) == ("succeeded", "re_1")
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", 400)


def test_a_refund_made_outside_the_service_is_kept_for_reconciliation(web):
    PaymentFactory(status="succeeded", stripe_payment_intent_id="pi_dash", amount=1_000)
    charge = {
        "id": "ch_2",
        "object": "charge",
        "payment_intent": "pi_dash",
        "amount_refunded": 1000,
    }
    deliver(web, event("charge.refunded", charge))
    deliver(
        web, event("refund.created", {"id": "re_dash", "object": "refund", "status": "succeeded"})
    )

    assert sorted(process_all()) == ["unmatched", "unmatched"]
    assert Refund.objects.count() == 0


def test_the_helper_module_builds_stripe_shaped_events():
    assert stripe_events.event("x.y", {"id": "o"})["id"].startswith("evt_")


def test_a_refund_failed_event_releases_the_reservation(web):
    payment = PaymentFactory(status="succeeded", stripe_payment_intent_id="pi_f", amount=1_000)
    refund = services.request_refund(
        payment_id=payment.pk, amount=1_000, idempotency_key="k", requested_by="api:shop"
    )
    failed = {
        "id": "re_f",
        "object": "refund",
        "amount": 1_000,
        "status": "failed",
        "failure_reason": "expired_or_canceled_card",
        "metadata": {"refund_id": str(refund.pk)},
    }
    deliver(web, event("refund.failed", failed))
    deliver(web, event("refund.updated", {**failed, "status": "succeeded"}))  # late, conflicting

    process_all()

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert (refund.status, refund.failure_reason) == ("failed", "expired_or_canceled_card")
    assert (payment.status, payment.amount_refunded) == ("succeeded", 0)
    assert not Notification.objects.filter(kind="refund").exists()
