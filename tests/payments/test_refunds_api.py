"""POST /api/v1/payments/{id}/refunds: the Idempotency-Key contract and problem answers."""

import uuid

import pytest

from payments.models import Refund
from tests.factories import PaymentFactory


@pytest.fixture
def payment(merchant):
    return PaymentFactory(client=merchant[0], amount=1_000, status="succeeded")


def refund(api, payment, body=None, key="refund-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(f"/api/v1/payments/{payment.id}/refunds", body or {}, format="json", **headers)


def test_a_refund_is_accepted_with_the_rest_of_the_amount(api, payment):
    response = refund(api, payment, {"reason": "requested_by_customer"})

    assert response.status_code == 202
    body = response.json()
    assert (body["amount"], body["status"], body["payment"]) == (1_000, "pending", str(payment.id))
    payment.refresh_from_db()
    assert payment.amount_refunded == 1_000


def test_a_replay_is_byte_identical_and_a_different_body_is_422(api, payment):
    first = refund(api, payment, {"amount": 300})

    replay = refund(api, payment, {"amount": 300})
    reused = refund(api, payment, {"amount": 400})

    assert (replay.status_code, replay.content) == (202, first.content)
    assert replay["Idempotent-Replayed"] == "true"
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert Refund.objects.count() == 1
    payment.refresh_from_db()
    assert payment.amount_refunded == 300


def test_too_much_is_a_problem_naming_amount_and_the_key_stays_free(api, payment):
    too_much = refund(api, payment, {"amount": 1_001})

    assert too_much.status_code == 422
    assert too_much["Content-Type"] == "application/problem+json"
    problem = too_much.json()
    assert problem["code"] == "refund_amount_too_large"
    assert [e["field"] for e in problem["errors"]] == ["amount"]
    assert refund(api, payment, {"amount": 1_000}).status_code == 202


@pytest.mark.parametrize("status", ["pending", "failed", "refunded"])
def test_refunding_a_payment_that_is_not_paid_is_a_409(api, merchant, status):
    payment = PaymentFactory(client=merchant[0], status=status)

    response = refund(api, payment, {"amount": 100})

    assert response.status_code == 409
    assert response.json()["code"] == "payment_not_refundable"
    assert Refund.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": "100"}, "amount"),
        ({"reason": "bored"}, "reason"),
        ({"amont": 5}, "amont"),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(api, payment, body, field):
    response = refund(api, payment, body)

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_the_key_is_required_and_other_clients_payments_do_not_exist(api, payment):
    assert refund(api, payment, {"amount": 1}, key=None).status_code == 400
    stranger = PaymentFactory(status="succeeded")
    assert refund(api, stranger, {"amount": 1}, key=str(uuid.uuid4())).status_code == 404
    assert Refund.objects.count() == 0
