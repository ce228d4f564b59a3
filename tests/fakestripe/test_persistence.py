"""`--state FILE`: intents, ledger, idempotency keys and webhooks survive kill -9 and a restart."""

import stripe

from tests.fakestripe.conftest import WEBHOOK_SECRET, Fake, running_fakestripe


def test_kill_9_then_restart_forgets_nothing(tmp_path):
    state = tmp_path / "fakestripe.journal"
    with running_fakestripe("--state", str(state)) as first:
        client = Fake(first.url).client()
        paid = client.v1.payment_intents.create(
            params={
                "amount": 2000,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "metadata": {"payment_id": "pay_1"},
            },
            options={"idempotency_key": "pay_1:create"},
        )
        refund = client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 500})
        pending = client.v1.payment_intents.create(params={"amount": 700, "currency": "eur"})
        ledger_before = Fake(first.url).ledger()
        events_before = [e.id for e in client.v1.events.list(params={"limit": 100}).data]
        first.kill_hard()

    with running_fakestripe("--state", str(state)) as second:
        fake = Fake(second.url)
        client = fake.client()

        # Traffic counts (requests, 429s) are the running process's, not journaled.
        assert {**fake.ledger(), "traffic": None} == {**ledger_before, "traffic": None}
        assert client.v1.payment_intents.retrieve(paid.id).to_dict() == paid.to_dict()
        assert client.v1.payment_intents.retrieve(pending.id).status == "requires_payment_method"
        assert client.v1.refunds.retrieve(refund.id).amount == 500
        assert [e.id for e in client.v1.events.list(params={"limit": 100}).data] == events_before
        found = client.v1.payment_intents.search(params={"query": "metadata['payment_id']:'pay_1'"})
        assert [i.id for i in found.data] == [paid.id]
        # The key is remembered too: a retry after the restart replays, it does not charge.
        replayed = client.v1.payment_intents.create(
            params={
                "amount": 2000,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "metadata": {"payment_id": "pay_1"},
            },
            options={"idempotency_key": "pay_1:create"},
        )
        assert replayed.id == paid.id
        assert replayed.last_response.headers["idempotent-replayed"] == "true"
        assert len(fake.ledger()["charges"]) == 1
        # And it keeps journaling after the restart.
        client.v1.payment_intents.cancel(pending.id)
        second.kill_hard()

    with running_fakestripe("--state", str(state)) as third:
        assert Fake(third.url).client().v1.payment_intents.retrieve(pending.id).status == "canceled"


def test_a_write_torn_by_the_kill_is_skipped(tmp_path):
    state = tmp_path / "fakestripe.journal"
    with running_fakestripe("--state", str(state)) as first:
        intent = (
            Fake(first.url)
            .client()
            .v1.payment_intents.create(params={"amount": 2000, "currency": "usd"})
        )
        first.kill_hard()
    with state.open("a") as journal:
        journal.write('{"kind": "payment_intent", "object": {"id": "pi_tor')

    with running_fakestripe("--state", str(state)) as second:
        client = Fake(second.url).client()
        assert client.v1.payment_intents.retrieve(intent.id).amount == 2000
        client.v1.payment_intents.create(params={"amount": 3000, "currency": "usd"})
        assert len(client.v1.payment_intents.list().data) == 2


def test_reset_empties_the_journal(tmp_path):
    state = tmp_path / "fakestripe.journal"
    with running_fakestripe("--state", str(state)) as first:
        fake = Fake(first.url)
        fake.client().v1.payment_intents.create(params={"amount": 2000, "currency": "usd"})
        fake.control("POST", "reset")
        first.kill_hard()

    with running_fakestripe("--state", str(state)) as second:
        assert Fake(second.url).control("GET", "health")["counts"]["payment_intents"] == 0


def test_undelivered_webhooks_are_delivered_after_a_restart(tmp_path, webhook_receiver):
    state = tmp_path / "fakestripe.journal"
    webhook_receiver.failures_left = 1000
    flags = ("--state", str(state), "--webhook-secret", WEBHOOK_SECRET)
    with running_fakestripe(*flags, "--webhook-url", webhook_receiver.url) as first:
        intent = (
            Fake(first.url)
            .client()
            .v1.payment_intents.create(params={"amount": 2000, "currency": "usd"})
        )
        first.kill_hard()
    webhook_receiver.failures_left = 0

    with running_fakestripe(*flags, "--webhook-url", webhook_receiver.url):
        [(headers, body)] = webhook_receiver.wait_for(1)

    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET)
    assert (event.type, event.data.object.id) == ("payment_intent.created", intent.id)
