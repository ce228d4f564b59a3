"""The REST API (payments and refunds) through Django's test client, against real PostgreSQL."""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from outbox.models import OutboxMessage
from payments import services
from payments.models import IdempotencyRecord, Payment, PaymentEvent, Refund
from tests.factories import PaymentFactory

URL = "/api/v1/payments"
BODY = {
    "amount": 2_000,
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "customer_email": "buyer@example.com",
    "description": "2 coffees",
    "metadata": {"order": "A-17"},
}


def post(api: APIClient, body: object, key: str | None = "key-1", **headers: str):
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return api.post(URL, data=json.dumps(body), content_type="application/json", **headers)


def test_accepts_a_payment_with_202_and_writes_payment_event_and_outbox_together(api, merchant):
    response = post(api, BODY)

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert (body["amount"], body["currency"], body["metadata"]) == (2000, "USD", {"order": "A-17"})
    assert "customer_email" not in body
    payment = Payment.objects.get()
    assert str(payment.id) == body["id"]
    assert payment.client == merchant[0]
    assert payment.customer_email == "buyer@example.com"
    assert list(PaymentEvent.objects.values_list("from_status", "to_status")) == [("", "pending")]
    charge_jobs = OutboxMessage.objects.filter(task_name="payments.charge_payment")
    assert [m.args for m in charge_jobs] == [[str(payment.id)]]


def test_publishes_the_charge_only_after_commit(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        post(api, BODY)

    assert len(callbacks) == 1
    message = OutboxMessage.objects.get(task_name="payments.charge_payment")
    assert message.published_at is not None
    assert message.publish_attempts == 1


def test_replay_returns_byte_identical_body_and_marks_it_replayed(api):
    first = post(api, BODY)
    again = post(api, {**BODY})

    assert again.status_code == 202
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Payment.objects.count() == 1
    assert OutboxMessage.objects.filter(task_name="payments.charge_payment").count() == 1


def test_same_key_with_a_different_body_is_422_problem(api):
    post(api, BODY)

    response = post(api, {**BODY, "amount": 2_001})

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_reused"
    assert Payment.objects.count() == 1


def test_same_key_still_in_flight_is_409_with_retry_after(api, merchant):
    post_data_fingerprint = _fingerprint_of(BODY)
    IdempotencyRecord.objects.create(
        client=merchant[0],
        key="key-1",
        request_fingerprint=post_data_fingerprint,
        locked_at="2099-01-01T00:00:00Z",
    )

    response = post(api, BODY)

    assert response.status_code == 409
    assert response["Retry-After"] == "1"
    assert response.json()["code"] == "idempotency_key_in_flight"
    assert Payment.objects.count() == 0


def test_an_abandoned_claim_is_taken_over_after_the_lock_timeout(api, merchant):
    IdempotencyRecord.objects.create(
        client=merchant[0],
        key="key-1",
        request_fingerprint=_fingerprint_of(BODY),
        locked_at="2000-01-01T00:00:00Z",
    )

    response = post(api, BODY)

    assert response.status_code == 202
    assert Payment.objects.count() == 1


def _fingerprint_of(body: dict[str, object]) -> str:
    from payments.idempotency import fingerprint

    return fingerprint("POST", URL, body)


@pytest.mark.parametrize(
    ("key", "code"),
    [
        (None, "idempotency_key_missing"),
        ("", "idempotency_key_missing"),
        ("has space", "idempotency_key_invalid"),
        ("x" * 256, "idempotency_key_invalid"),
    ],
)
def test_missing_or_invalid_key_is_400(api, key, code):
    response = post(api, BODY, key=key)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert Payment.objects.count() == 0


def test_keys_are_scoped_per_client(api):
    _, other_key = services.create_api_client(name="other")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_key}")

    first = post(api, BODY)
    second = post(other, {**BODY, "amount": 999})

    assert (first.status_code, second.status_code) == (202, 202)
    assert Payment.objects.count() == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 10.5}, "amount"),
        ({"amount": "100"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 100_000_000}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "us"}, "currency"),
        ({"payment_method": "4242424242424242"}, "payment_method"),
        ({"customer_email": "not-an-email"}, "customer_email"),
        ({"metadata": {"k": 5}}, "metadata.k"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
        ({"metadata": {"x" * 41: "v"}}, "metadata"),
        ({"metadata": {"a[b]": "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 501}}, "metadata.k"),
        ({"amout": 5}, "amout"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_stores_nothing(api, change, field):
    response = post(api, {**BODY, **change})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert field in [error["field"] for error in response.json()["errors"]]
    assert Payment.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0


def test_missing_required_fields_are_each_named(api):
    response = post(api, {})

    assert response.status_code == 400
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"amount", "currency", "payment_method"}


def test_yen_is_accepted_in_whole_yen(api):
    response = post(api, {**BODY, "currency": "jpy", "amount": 500})

    assert response.status_code == 202
    assert (response.json()["amount"], response.json()["currency"]) == (500, "JPY")


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b""])
def test_malformed_body_is_400_problem(api, raw):
    response = api.post(URL, data=raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_requests_without_a_valid_key_are_401(db):
    anonymous = APIClient()
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer psk_wrong")

    assert anonymous.get(URL).status_code == 401
    response = wrong.post(URL, data=BODY, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_client_sees_only_its_own_payments(api, merchant):
    mine = PaymentFactory(client=merchant[0])
    theirs = PaymentFactory()

    listed = api.get(URL).json()["results"]

    assert [p["id"] for p in listed] == [str(mine.id)]
    assert api.get(f"{URL}/{mine.id}").status_code == 200
    assert api.get(f"{URL}/{theirs.id}").status_code == 404
    assert api.get(f"{URL}/not-a-uuid").status_code == 404
    assert api.get(f"{URL}/{uuid.uuid4()}").status_code == 404


def test_list_filters_by_status_and_pages_with_a_cursor(api, merchant):
    for _ in range(3):
        PaymentFactory(client=merchant[0], status="succeeded")
    PaymentFactory(client=merchant[0], status="failed")

    first_page = api.get(URL, {"status": "succeeded", "limit": 2}).json()
    second_page = api.get(first_page["next"]).json()

    assert len(first_page["results"]) == 2
    assert len(second_page["results"]) == 1
    assert second_page["next"] is None
    seen = [p["status"] for p in first_page["results"] + second_page["results"]]
    assert seen == ["succeeded"] * 3
    assert api.get(URL, {"status": "nonsense"}).status_code == 400


def test_openapi_schema_describes_the_payments_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    assert {"/api/v1/payments", "/api/v1/payments/{payment_id}"} <= set(paths)
    parameters = paths["/api/v1/payments"]["post"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in parameters)


def test_a_retry_after_the_idempotency_record_expired_is_answered_from_the_payment(api, merchant):
    first = post(api, BODY)
    IdempotencyRecord.objects.all().delete()  # expired: the hourly sweep removed it

    again = post(api, BODY)
    other_body = post(api, {**BODY, "amount": 2_001})

    assert (again.status_code, again["Idempotent-Replayed"]) == (202, "true")
    assert again.json()["id"] == first.json()["id"]
    assert other_body.status_code == 422
    assert other_body.json()["code"] == "idempotency_key_reused"
    assert Payment.objects.count() == 1


# --- Refunds: POST /api/v1/payments/{id}/refunds ------------------------------


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


def test_a_refund_retried_after_its_idempotency_record_expired_is_the_same_refund(api, payment):
    first = refund(api, payment, {"amount": 100})
    IdempotencyRecord.objects.all().delete()

    again = refund(api, payment, {"amount": 100})
    other_body = refund(api, payment, {"amount": 200})

    assert (again.status_code, again["Idempotent-Replayed"]) == (202, "true")
    assert again.json()["id"] == first.json()["id"]
    assert other_body.status_code == 422
    assert Refund.objects.count() == 1
