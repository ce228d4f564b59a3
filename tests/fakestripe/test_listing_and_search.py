"""Lists (limit, cursors, created filters) and search by metadata, as Stripe paginates them."""

import pytest
import stripe

from tests.fakestripe.conftest import Fake


@pytest.fixture
def intents(stripe_client):
    """Five intents, oldest first, metadata payment_id pay_0..pay_4."""
    return [
        stripe_client.v1.payment_intents.create(
            params={
                "amount": 1000 + n,
                "currency": "usd",
                "customer": "cus_even" if n % 2 == 0 else "cus_odd",
                "metadata": {"payment_id": f"pay_{n}", "batch": "b1"},
            }
        )
        for n in range(5)
    ]


def ids(objects) -> list[str]:
    return [obj.id for obj in objects]


def test_list_is_newest_first_with_cursors(stripe_client, intents):
    newest_first = ids(reversed(intents))

    first_page = stripe_client.v1.payment_intents.list(params={"limit": 2})
    second_page = stripe_client.v1.payment_intents.list(
        params={"limit": 2, "starting_after": first_page.data[-1].id}
    )
    last_page = stripe_client.v1.payment_intents.list(
        params={"limit": 2, "starting_after": second_page.data[-1].id}
    )
    before = stripe_client.v1.payment_intents.list(
        params={"limit": 2, "ending_before": newest_first[3]}
    )

    assert (ids(first_page.data), first_page.has_more) == (newest_first[:2], True)
    assert (ids(second_page.data), second_page.has_more) == (newest_first[2:4], True)
    assert (ids(last_page.data), last_page.has_more) == (newest_first[4:], False)
    assert (ids(before.data), before.has_more) == (newest_first[1:3], True)
    assert first_page.url == "/v1/payment_intents"


def test_auto_paging_walks_everything(stripe_client, intents):
    walked = stripe_client.v1.payment_intents.list(params={"limit": 2}).auto_paging_iter()

    assert ids(walked) == ids(reversed(intents))


def test_created_filters(stripe_client, intents):
    created = intents[0].created

    assert (
        len(stripe_client.v1.payment_intents.list(params={"created": {"gte": created}}).data) == 5
    )
    assert stripe_client.v1.payment_intents.list(params={"created": {"lt": created}}).data == []
    assert (
        stripe_client.v1.payment_intents.list(params={"created": {"gt": created + 3600}}).data == []
    )
    between = {"gte": created - 10, "lte": created + 10}
    assert len(stripe_client.v1.payment_intents.list(params={"created": between}).data) == 5


def test_customer_filter(stripe_client, intents):
    listed = stripe_client.v1.payment_intents.list(params={"customer": "cus_odd"})

    assert ids(listed.data) == [intents[3].id, intents[1].id]


def test_limit_above_100_is_refused(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.payment_intents.list(params={"limit": 101})

    assert (raised.value.param, raised.value.user_message) == (
        "limit",
        "This value must be less than or equal to 100.",
    )


def test_unknown_cursor(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.payment_intents.list(params={"starting_after": "pi_gone"})

    assert (raised.value.code, raised.value.param) == ("resource_missing", "starting_after")


def test_search_by_payment_id(stripe_client, intents):
    found = stripe_client.v1.payment_intents.search(
        params={"query": "metadata['payment_id']:'pay_3'"}
    )

    assert ids(found.data) == [intents[3].id]
    assert found.object == "search_result"
    assert found.has_more is False
    assert found.next_page is None
    assert found.url == "/v1/payment_intents/search"


def test_search_combines_clauses_and_pages(stripe_client, intents):
    query = "metadata['batch']:'b1' AND amount>1001 AND status:'requires_payment_method'"

    first = stripe_client.v1.payment_intents.search(params={"query": query, "limit": 2})
    rest = stripe_client.v1.payment_intents.search(
        params={"query": query, "limit": 2, "page": first.next_page}
    )

    assert (ids(first.data), first.has_more) == ([intents[4].id, intents[3].id], True)
    assert (ids(rest.data), rest.has_more) == ([intents[2].id], False)
    assert ids(
        stripe_client.v1.payment_intents.search(params={"query": query}).auto_paging_iter()
    ) == [intents[4].id, intents[3].id, intents[2].id]


def test_search_with_or_and_negation(stripe_client, intents):
    either = stripe_client.v1.payment_intents.search(
        params={"query": "metadata['payment_id']:'pay_0' OR metadata['payment_id']:'pay_1'"}
    )
    but_not = stripe_client.v1.payment_intents.search(
        params={"query": "customer:'cus_even' AND -metadata['payment_id']:'pay_2'"}
    )

    assert ids(either.data) == [intents[1].id, intents[0].id]
    assert ids(but_not.data) == [intents[4].id, intents[0].id]


def test_invalid_search_query(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.payment_intents.search(params={"query": "colour:'blue'"})

    assert raised.value.param == "query"
    assert raised.value.user_message == (
        "Invalid search query: 'colour' is not a supported search field."
    )


def test_events_list_filters_by_type(fake: Fake, stripe_client, intents):
    stripe_client.v1.payment_intents.cancel(intents[0].id)

    canceled = stripe_client.v1.events.list(params={"type": "payment_intent.canceled"})
    created = stripe_client.v1.events.list(params={"types": ["payment_intent.created"], "limit": 3})

    assert [e.data.object.id for e in canceled.data] == [intents[0].id]
    assert [e.data.object.id for e in created.data] == ids(reversed(intents))[:3]
    assert created.has_more is True
