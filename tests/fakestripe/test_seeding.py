"""`POST /_fake/seed`: many PaymentIntents in one call, then listed, searched, refunded as usual."""

import time
import uuid

import pytest
import requests
import stripe

from tests.fakestripe.conftest import Fake, running_fakestripe

DAY = 24 * 3600


def seed(fake: Fake, **plan) -> dict:
    return fake.control("POST", "seed", plan)


def listed(client: stripe.StripeClient, **params) -> list:
    return list(client.v1.payment_intents.list(params={"limit": 100, **params}).auto_paging_iter())


def test_seeded_intents_list_search_and_refund_like_ones_made_through_the_api(
    fake: Fake, stripe_client
):
    now = int(time.time())
    seeded = seed(
        fake,
        count=300,
        amount=1500,
        currency="eur",
        created_from=now - DAY,
        created_to=now - 3600,
        metadata={"payment_id": "{uuid}", "batch": "bench-{n}"},
        refund_every=10,
        refund_amount=500,
        refund_metadata={"refund_id": "{uuid}", "of": "{payment_intent}"},
    )

    intents = seeded["payment_intents"]
    assert (seeded["seeded"], seeded["refunds"], len(intents)) == (300, 30, 300)
    assert seeded["created"] == {"first": now - DAY, "last": now - 3600}
    assert [i["created"] for i in intents] == sorted(i["created"] for i in intents)
    assert len({i["metadata"]["payment_id"] for i in intents}) == 300
    assert all(uuid.UUID(i["metadata"]["payment_id"]).version == 4 for i in intents)
    assert intents[7]["metadata"]["batch"] == "bench-7"
    # Lists walk them newest first, and `created` filters cut exactly where the timestamps say.
    assert [i.id for i in listed(stripe_client)] == [i["id"] for i in reversed(intents)]
    cut = intents[200]["created"]
    later = [i["id"] for i in intents if i["created"] >= cut]
    assert [i.id for i in listed(stripe_client, created={"gte": cut})] == later[::-1]
    assert listed(stripe_client, created={"gt": now - 3600}) == []
    # Search by metadata, retrieve, expand: the same objects the API would have made.
    target = intents[123]
    found = stripe_client.v1.payment_intents.search(
        params={"query": f"metadata['payment_id']:'{target['metadata']['payment_id']}'"}
    )
    assert [i.id for i in found.data] == [target["id"]]
    intent = stripe_client.v1.payment_intents.retrieve(
        target["id"], params={"expand": ["latest_charge"]}
    )
    assert (intent.status, intent.amount, intent.currency, intent.amount_received) == (
        "succeeded",
        1500,
        "eur",
        1500,
    )
    assert (intent.created, intent.payment_method) == (target["created"], "pm_card_visa")
    assert (intent.latest_charge.status, intent.latest_charge.payment_intent) == (
        "succeeded",
        target["id"],
    )
    # Every tenth one is partly refunded; the rest can be refunded through the API.
    refunded = intents[9]
    [refund] = stripe_client.v1.refunds.list(params={"payment_intent": refunded["id"]}).data
    assert (refund.id, refund.amount, refund.status) == (refunded["refund"], 500, "succeeded")
    assert refund.metadata.to_dict()["of"] == refunded["id"]
    assert intents[8]["refund"] is None
    assert (
        stripe_client.v1.refunds.create(params={"payment_intent": intents[8]["id"]}).amount == 1500
    )
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        stripe_client.v1.refunds.create(params={"payment_intent": refunded["id"], "amount": 1001})
    assert too_much.value.param == "amount"
    # The ledger has the seeded money too, marked as such.
    ledger = fake.ledger()
    assert ledger["counts"]["charged_amount"] == {"eur": 300 * 1500}
    assert ledger["counts"]["refunded_amount"] == {"eur": 30 * 500 + 1500}
    assert {entry["source"] for entry in ledger["charges"]} == {"seed"}
    assert (
        fake.ledger(payment_id=refunded["metadata"]["payment_id"])["refunds"][0]["id"] == refund.id
    )
    # History, not news: no events.
    assert stripe_client.v1.events.list(params={"type": "payment_intent.succeeded"}).data == []


def test_seeding_the_past_after_the_present_keeps_lists_in_created_order(fake: Fake, stripe_client):
    recent = stripe_client.v1.payment_intents.create(params={"amount": 900, "currency": "usd"})
    now = int(time.time())

    seeded = seed(
        fake,
        count=3,
        status="requires_payment_method",
        created_from=now - 300,
        created_to=now - 100,
        metadata=[{"payment_id": "a"}, {"payment_id": "b"}, {"payment_id": "c"}],
        return_intents=True,
    )

    old_ids = [i["id"] for i in seeded["payment_intents"]]
    assert [i.id for i in listed(stripe_client)] == [recent.id, *reversed(old_ids)]
    assert [i.id for i in listed(stripe_client, created={"lt": now - 50})] == old_ids[::-1]
    assert [i.id for i in listed(stripe_client, created={"gte": now - 200, "lte": now - 100})] == [
        old_ids[2],
        old_ids[1],
    ]
    first_page = stripe_client.v1.payment_intents.list(params={"limit": 2})
    assert [i.id for i in first_page.data] == [recent.id, old_ids[2]]
    assert stripe_client.v1.payment_intents.retrieve(old_ids[1]).metadata.to_dict() == {
        "payment_id": "b"
    }
    assert fake.ledger()["charges"] == []


@pytest.mark.parametrize(
    ("status", "payment_method"),
    [
        ("canceled", None),
        ("processing", "pm_card_visa"),
        ("requires_confirmation", "pm_card_visa"),
    ],
)
def test_other_statuses_and_no_ledger(fake: Fake, stripe_client, status, payment_method):
    seeded = seed(fake, count=2, status=status, ledger=False, return_intents=False)

    assert "payment_intents" not in seeded
    intents = listed(stripe_client)
    assert [(i.status, i.payment_method, i.latest_charge) for i in intents] == [
        (status, payment_method, None)
    ] * 2
    assert fake.ledger()["counts"]["charges"] == 0


def test_a_seeded_ledger_can_be_switched_off(fake: Fake, stripe_client):
    seed(fake, count=5, ledger=False)

    assert [i.status for i in listed(stripe_client)] == ["succeeded"] * 5
    assert fake.ledger()["charges"] == []


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({}, "count is required"),
        ({"count": 0}, "count must be an integer from 1 to 1000000"),
        ({"count": 2, "status": "requires_capture"}, "status must be one of"),
        ({"count": 2, "metadata": [{"a": "1"}]}, "count must equal the number of metadata hashes"),
        ({"count": 2, "created_to": int(time.time()) + 3600}, "created_to must be an integer"),
        ({"count": 2, "status": "canceled", "refund_every": 2}, "only succeeded intents"),
        ({"count": 2, "metadata": {"n": 1}}, "metadata must map strings to strings"),
        ({"count": 2, "colour": "blue"}, "Unknown seed setting: colour"),
    ],
)
def test_bad_seed_plans_are_refused(fake: Fake, plan, message):
    response = requests.post(f"{fake.url}/_fake/seed", json=plan, timeout=10)

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(message)
    assert fake.control("GET", "health")["counts"]["payment_intents"] == 0


def test_seeded_history_survives_a_restart_in_created_order(tmp_path):
    state = tmp_path / "fakestripe.journal"
    with running_fakestripe("--state", str(state)) as first:
        fake = Fake(first.url)
        recent = fake.client().v1.payment_intents.create(params={"amount": 900, "currency": "usd"})
        now = int(time.time())
        seeded = seed(fake, count=20, created_from=now - DAY, created_to=now - 60, refund_every=5)
        expected = [recent.id, *(i["id"] for i in reversed(seeded["payment_intents"]))]
        first.kill_hard()

    with running_fakestripe("--state", str(state)) as second:
        fake = Fake(second.url)
        client = fake.client()

        assert [i.id for i in listed(client)] == expected
        assert [i.id for i in listed(client, created={"lt": now - 60})] == expected[2:]
        assert fake.ledger()["counts"]["charges"] == 20
        assert len(list(client.v1.refunds.list(params={"limit": 100}).auto_paging_iter())) == 4
