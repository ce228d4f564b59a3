"""Finding our payment or refund for a gateway object, also while a worker stores its id."""

import psycopg
import pytest
from django.db import connection

from payments import selectors
from payments.gateways.base import ChargeState, IntentResult
from payments.models import Payment, Refund
from tests.factories import PaymentFactory


def commit_from_another_session_after_the_first_query(sql: str, params: list[object]):
    """An execute wrapper: after this session's first query, another session commits `sql`,
    as a worker storing a gateway id does while a webhook event is being applied."""
    committed = False

    def wrapper(execute, query, query_params, many, context):
        nonlocal committed
        result = execute(query, query_params, many, context)
        if not committed:
            committed = True
            database = connection.settings_dict
            with psycopg.connect(
                host=database["HOST"],
                port=database["PORT"],
                user=database["USER"],
                dbname=database["NAME"],
                autocommit=True,
            ) as other:
                other.execute(sql, params)
        return result

    return wrapper


@pytest.mark.django_db(transaction=True)
def test_a_refund_is_found_while_its_gateway_id_is_committed_during_the_lookup():
    payment = PaymentFactory(stripe_payment_intent_id="pi_1")
    refund = Refund.objects.create(
        payment=payment, idempotency_key="r-1", amount=100, requested_by="api:test"
    )
    store_id = commit_from_another_session_after_the_first_query(
        "UPDATE payments_refund SET stripe_refund_id = 're_1' WHERE id = %s", [refund.pk]
    )

    with connection.execute_wrapper(store_id):
        found = selectors.refund_for_gateway_refund("re_1", {"refund_id": str(refund.pk)})

    assert found == refund


@pytest.mark.django_db(transaction=True)
def test_a_payment_is_found_while_its_intent_id_is_committed_during_the_lookup():
    payment = PaymentFactory(stripe_payment_intent_id="")
    store_id = commit_from_another_session_after_the_first_query(
        "UPDATE payments_payment SET stripe_payment_intent_id = 'pi_1' WHERE id = %s",
        [payment.pk],
    )

    with connection.execute_wrapper(store_id):
        found = selectors.payment_for_intent("pi_1", {"payment_id": str(payment.pk)})

    assert found == payment


@pytest.mark.django_db
def test_the_id_we_sent_is_trusted_only_while_no_gateway_id_is_stored():
    waiting = PaymentFactory(stripe_payment_intent_id="")
    stored = PaymentFactory(stripe_payment_intent_id="pi_stored")

    assert selectors.payment_for_intent("pi_new", {"payment_id": str(waiting.pk)}) == waiting
    assert selectors.payment_for_intent("pi_stored", {}) == stored
    # Another intent naming a payment that has its own: not that payment's.
    assert selectors.payment_for_intent("pi_other", {"payment_id": str(stored.pk)}) is None
    assert selectors.payment_for_intent("pi_other", {"payment_id": "not-a-uuid"}) is None
    assert selectors.payment_for_intent("", {}) is None


@pytest.mark.django_db
def test_a_page_of_intents_is_matched_in_one_query(django_assert_num_queries):
    by_stored_id = PaymentFactory(stripe_payment_intent_id="pi_a")
    by_sent_id = PaymentFactory(stripe_payment_intent_id="")
    has_its_own = PaymentFactory(stripe_payment_intent_id="pi_own")
    intents = [
        intent_naming("pi_a", by_stored_id),
        intent_naming("pi_b", by_sent_id),
        intent_naming("pi_c", has_its_own),
        intent_naming("pi_d", None),
    ]

    with django_assert_num_queries(1):
        found = selectors.payments_for_intents(intents)

    assert found == {"pi_a": by_stored_id, "pi_b": by_sent_id}


def intent_naming(intent_id: str, payment: Payment | None) -> IntentResult:
    metadata = {"payment_id": str(payment.pk)} if payment else {}
    return IntentResult(intent_id, ChargeState.SUCCEEDED, 2_000, "usd", metadata=metadata)
