"""Reconciliation against a fake Stripe of its own (reset per test), over HTTP."""

from datetime import timedelta

import pytest
import requests
import stripe
from django.core.management import CommandError, call_command
from django.utils import timezone

from notifications.models import Notification
from outbox.models import OutboxMessage
from payments import services
from payments.gateways.base import CreateIntent, CreateRefund
from payments.gateways.stripe import StripeGateway
from payments.gateways.stripe import gateway as stripe_gateway
from payments.management.commands import payments_reconcile
from payments.models import Payment, ReconciliationRun, ReconciliationSeenIntent, Refund
from payments.services import reconciliation, reconciliation_runs, refunds
from payments.services.reconciliation import MismatchKind
from tests import processes
from tests.factories import PaymentFactory


@pytest.fixture(scope="module")
def own_fake_url(tmp_path_factory):
    # Its own server: a list of "every PaymentIntent" must not see other tests' intents.
    with processes.fakestripe(
        tmp_path_factory.mktemp("fakestripe-reconcile"), profile="zero"
    ) as url:
        yield url


@pytest.fixture
def fake_url(own_fake_url):
    requests.post(f"{own_fake_url}/_fake/reset", timeout=5).raise_for_status()
    return own_fake_url


@pytest.fixture
def gateway(fake_url):
    client = stripe.StripeClient(
        "sk_test_reconcile", base_addresses={"api": fake_url}, max_network_retries=0
    )
    return StripeGateway(client)


def force(fake_url: str, intent_id: str, status: str) -> None:
    requests.post(
        f"{fake_url}/_fake/payment_intents/{intent_id}",
        json={"status": status, "emit_events": False},
        timeout=5,
    ).raise_for_status()


def charged(gateway, card: str = "pm_card_visa", **fields) -> Payment:
    payment = PaymentFactory(payment_method=card, customer_email="buyer@example.com", **fields)
    services.charge_payment(str(payment.id), gateway)
    payment.refresh_from_db()
    return payment


def since() -> timezone.datetime:
    return timezone.now() - timedelta(minutes=10)


@pytest.fixture
def paid_at_stripe_failed_here(db, gateway, fake_url) -> Payment:
    """The seeded mismatch: declined here, then succeeded at Stripe (forced)."""
    payment = charged(gateway, "pm_card_chargeDeclined")
    assert payment.status == "failed"
    force(fake_url, payment.stripe_payment_intent_id, "succeeded")
    return payment


def test_a_report_finds_the_mismatch_and_changes_nothing(paid_at_stripe_failed_here, gateway):
    payment = paid_at_stripe_failed_here
    events_before = payment.events.count()

    report = services.reconcile(gateway, since=since(), fix=False)

    assert [(m.kind, m.payment_id, m.here, m.at_stripe, m.fixed) for m in report.mismatches] == [
        (MismatchKind.PAID_AT_STRIPE_NOT_HERE, str(payment.id), "failed", "succeeded", False)
    ]
    assert (report.intents_checked, report.refunds_checked) == (1, 0)
    payment.refresh_from_db()
    assert payment.status == "failed"
    assert payment.events.count() == events_before


def test_fix_corrects_it_with_an_audited_event_and_a_receipt(paid_at_stripe_failed_here, gateway):
    payment = paid_at_stripe_failed_here

    first = services.reconcile(gateway, since=since(), fix=True)
    second = services.reconcile(gateway, since=since(), fix=True)

    assert [(m.kind, m.fixed, m.note) for m in first.mismatches] == [
        (MismatchKind.PAID_AT_STRIPE_NOT_HERE, True, "now succeeded")
    ]
    assert second.mismatches == []
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("succeeded", "")
    last = payment.events.last()
    assert (last.from_status, last.to_status, last.actor) == (
        "failed",
        "succeeded",
        "reconciliation",
    )
    assert last.reason.startswith(
        f"reconciliation: PaymentIntent {payment.stripe_payment_intent_id}"
    )
    kinds = sorted(Notification.objects.values_list("kind", flat=True))
    assert kinds == ["payment_failed", "receipt"]


def test_a_payment_stuck_behind_stripe_moves_forward(db, gateway, fake_url):
    payment = charged(gateway, "pm_card_authenticationRequired")
    assert payment.status == "requires_action"
    force(fake_url, payment.stripe_payment_intent_id, "canceled")

    report = services.reconcile(gateway, since=since(), fix=True)

    assert [(m.kind, m.fixed) for m in report.mismatches] == [(MismatchKind.BEHIND_STRIPE, True)]
    payment.refresh_from_db()
    assert payment.status == "canceled"
    assert payment.events.last().actor == "reconciliation"


def test_paid_here_but_not_at_stripe_is_reported_never_fixed(db, gateway, fake_url):
    payment = charged(gateway)
    Payment.objects.filter(pk=payment.pk).update(amount=2_500)
    force(
        fake_url,
        charged(gateway, "pm_card_authenticationRequired").stripe_payment_intent_id,
        "canceled",
    )
    Payment.objects.filter(payment_method="pm_card_authenticationRequired").update(
        status="succeeded"
    )

    report = services.reconcile(gateway, since=since(), fix=True)

    assert sorted((m.kind.value, m.fixed) for m in report.mismatches) == [
        ("amount_differs", False),
        ("not_paid_at_stripe", False),
    ]
    assert set(Payment.objects.values_list("status", flat=True)) == {"succeeded"}


def test_missing_on_either_side_is_reported(db, gateway):
    stranger = gateway.create_intent(
        CreateIntent(
            amount=700,
            currency="eur",
            payment_method="pm_card_visa",
            idempotency_key="orphan",
            metadata={"payment_id": "not-ours"},
        )
    )
    ghost = PaymentFactory(status="succeeded", stripe_payment_intent_id="pi_never_at_stripe")

    report = services.reconcile(gateway, since=since(), fix=True)

    assert sorted((m.kind.value, m.stripe_id, m.fixed) for m in report.mismatches) == [
        ("missing_at_stripe", "pi_never_at_stripe", False),
        ("missing_locally", stranger.intent_id, False),
    ]
    assert str(ghost.id) in [m.payment_id for m in report.mismatches]


def test_a_refund_settled_at_stripe_but_pending_here_is_settled(db, gateway):
    payment = charged(gateway, amount=1_000)
    refund = refunds.request_refund(
        payment_id=payment.pk, amount=600, idempotency_key="k", requested_by="api:shop"
    )
    # Stripe refunded it; the worker died before it recorded the answer.
    gateway.create_refund(
        CreateRefund(
            payment_intent_id=payment.stripe_payment_intent_id,
            amount=600,
            idempotency_key=refunds.refund_key(refund),
            metadata={"refund_id": str(refund.pk)},
        )
    )

    report = services.reconcile(gateway, since=since(), fix=True)

    assert [(m.kind, m.fixed) for m in report.mismatches] == [
        (MismatchKind.REFUND_BEHIND_STRIPE, True)
    ]
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == "succeeded"
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", 600)


def test_a_refund_made_in_stripes_dashboard_is_reported(db, gateway):
    payment = charged(gateway)
    gateway._client.v1.refunds.create(params={"payment_intent": payment.stripe_payment_intent_id})

    report = services.reconcile(gateway, since=since(), fix=True)

    assert [(m.kind, m.fixed) for m in report.mismatches] == [
        (MismatchKind.REFUND_MISSING_LOCALLY, False)
    ]
    assert Refund.objects.count() == 0


def test_the_command_prints_progress_a_table_and_a_summary(
    paid_at_stripe_failed_here, gateway, monkeypatch, capsys
):
    monkeypatch.setattr(payments_reconcile, "get_gateway", lambda: gateway)
    charged(gateway)  # one that agrees

    call_command("payments_reconcile", "--since", "10m", "--fix")

    out, err = capsys.readouterr()
    assert "reconciling" in err
    assert "paid_at_stripe_not_here" in out
    assert str(paid_at_stripe_failed_here.id) in out
    assert "checked 2 PaymentIntents, 0 refunds, 2 paid payments here" in out
    summary = out.split("summary")[1]
    assert [line.split() for line in summary.splitlines()[2:4]] == [
        ["paid_at_stripe_not_here", "1", "1"],
        ["total", "1", "1"],
    ]


def test_the_command_exits_non_zero_while_something_needs_a_person(db, gateway, monkeypatch):
    monkeypatch.setattr(payments_reconcile, "get_gateway", lambda: gateway)
    PaymentFactory(status="succeeded", stripe_payment_intent_id="pi_gone")

    with pytest.raises(SystemExit) as exit_:
        call_command("payments_reconcile", "--since", "2024-01-01T00:00:00")

    assert exit_.value.code == 1


def test_since_accepts_ages_and_iso_times():
    assert timezone.now() - payments_reconcile.parse_since("36h") > timedelta(hours=35)
    assert payments_reconcile.parse_since("2024-01-01T00:00:00Z").year == 2024
    with pytest.raises(CommandError, match="ISO 8601"):
        payments_reconcile.parse_since("yesterday")


def test_every_page_of_stripes_lists_is_read(db, gateway, monkeypatch):
    monkeypatch.setattr(stripe_gateway, "LIST_PAGE_SIZE", 2)
    payments = [charged(gateway) for _ in range(5)]

    report = services.reconcile(gateway, since=since(), fix=False)

    assert (report.intents_checked, report.payments_checked, report.mismatches) == (5, 5, [])
    assert len({p.stripe_payment_intent_id for p in payments}) == 5


def test_a_paid_payment_stripe_never_saw_is_reported_by_the_single_payment_check(db, gateway):
    payment = PaymentFactory(status="succeeded")

    found = reconciliation.check_payment(payment.pk, gateway, actor="staff:ops")

    assert [(m.kind, m.fixed) for m in found] == [(MismatchKind.MISSING_AT_STRIPE, False)]


def chunk_jobs(run) -> int:
    return OutboxMessage.objects.filter(
        task_name="payments.reconcile_chunk", args=[str(run.pk)]
    ).count()


def test_a_run_walks_in_bounded_chunks_each_resuming_at_its_cursor(db, gateway, monkeypatch):
    monkeypatch.setattr(stripe_gateway, "LIST_PAGE_SIZE", 2)
    for _ in range(5):
        charged(gateway)
    run = reconciliation_runs.start_run(since=since(), fix=False)

    chunks = []
    while run.phase != "done":
        report = services.run_chunk(run.pk, gateway, queue_next=True, pages=1)
        chunks.append((report.intents_checked, report.refunds_checked, report.payments_checked))
        run.refresh_from_db()

    # One page of at most two intents per chunk, then the (empty) refunds, then our payments.
    assert chunks == [(2, 0, 0), (2, 0, 0), (1, 0, 0), (0, 0, 0), (0, 0, 5)]
    assert (run.intents_checked, run.payments_checked, run.mismatches_found) == (5, 5, 0)
    assert run.finished_at is not None
    assert chunk_jobs(run) == len(chunks) - 1  # each chunk queued the next, the last none
    assert not ReconciliationSeenIntent.objects.filter(run=run).exists()


def test_a_chunk_delivered_twice_is_counted_once(db, gateway, monkeypatch):
    monkeypatch.setattr(stripe_gateway, "LIST_PAGE_SIZE", 2)
    for _ in range(3):
        charged(gateway)
    run = reconciliation_runs.start_run(since=since(), fix=False)
    stale = ReconciliationRun.objects.get(pk=run.pk)

    services.run_chunk(run.pk, gateway, queue_next=True, pages=1)
    # The same message again: it compares the same page and keeps nothing.
    ReconciliationRun.objects.filter(pk=run.pk).update(phase=stale.phase)
    duplicate = reconciliation_runs.run_chunk(run.pk, gateway, queue_next=True, pages=1)

    run.refresh_from_db()
    assert run.intents_checked == 2 + duplicate.intents_checked


def test_a_run_whose_chunk_message_was_lost_is_re_driven(db, settings):
    from outbox import recovery

    settings.STALLED_RECONCILIATION_SECONDS = 600
    run = reconciliation_runs.start_run(since=since(), fix=False)
    ReconciliationRun.objects.filter(pk=run.pk).update(
        updated_at=timezone.now() - timedelta(minutes=15)
    )

    assert recovery.recover_stuck_work()["reconciliation_run"] == 1
    assert chunk_jobs(run) == 1


def test_beat_does_not_start_a_run_while_one_is_making_progress(db):
    first = services.start_scheduled_run(since=since(), fix=True)

    assert services.start_scheduled_run(since=since(), fix=True) is None
    assert first is not None and chunk_jobs(first) == 1
