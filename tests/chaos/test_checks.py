"""The chaos checker's refund, webhook and fault-window checks catch what they claim to."""

import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from payments.models import PaymentEvent, Refund, RefundStatus, StripeEvent, StripeEventStatus
from tests.chaos import fault_windows, refund_checks, webhook_checks
from tests.chaos.checker import ChaosReport, check
from tests.chaos.fast_clock import ServiceClock
from tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db

T0 = 1_800_000_000.0  # a fixed "real" instant the fault windows are taken around


def paid(amount: int = 2_000, intent: str = "pi_1"):
    return PaymentFactory(amount=amount, status="succeeded", stripe_payment_intent_id=intent)


def refund(payment, amount: int, status: str = RefundStatus.SUCCEEDED) -> Refund:
    return Refund.objects.create(
        payment=payment, idempotency_key=f"key-{uuid.uuid4()}", amount=amount,
        status=status, requested_by="api:test",
    )  # fmt: skip


def ledger(payment, *stripe_refunds: tuple[str, int]) -> dict:
    intent = payment.stripe_payment_intent_id
    return {
        "charges": [{"payment_intent": intent, "amount": payment.amount,
                     "metadata": {"payment_id": str(payment.pk)}}],
        "refunds": [{"payment_intent": intent, "amount": amount,
                     "metadata": {"refund_id": refund_id}} for refund_id, amount in stripe_refunds],
    }  # fmt: skip


def checked_refunds(payment, stripe_ledger: dict) -> ChaosReport:
    report = ChaosReport(scenario="test")
    refund_checks.check_refunds(report, payment.client, None, stripe_ledger, Counter())
    return report


def test_refunds_matching_stripe_one_for_one_pass_except_for_their_missing_emails():
    payment = paid()
    first, second = refund(payment, 500), refund(payment, 1_500)

    at_stripe = ledger(payment, (str(first.pk), 500), (str(second.pk), 1_500))

    report = checked_refunds(payment, at_stripe)

    assert report.violations() == ["missing_refund_emails=2"]


def test_a_refund_made_twice_at_stripe_is_a_double_refund_and_more_than_was_charged():
    payment = paid()
    made = refund(payment, 1_500)

    report = checked_refunds(payment, ledger(payment, (str(made.pk), 1_500), (str(made.pk), 1_500)))

    assert report.double_refunds == 1
    assert report.refunds_mismatched == 1
    assert report.refunds_over_charge_at_stripe == 1


def test_a_refund_pending_at_the_end_or_failed_here_but_made_at_stripe_is_a_violation():
    payment = paid()
    refund(payment, 300, RefundStatus.PENDING)
    failed = refund(payment, 400, RefundStatus.FAILED)

    report = checked_refunds(payment, ledger(payment, (str(failed.pk), 400)))

    assert report.refunds_pending == 1
    assert report.refunds_mismatched == 1  # Stripe refunded what we recorded as failed


def test_settled_refunds_above_the_charge_here_are_counted():
    payment = paid(amount=1_000)
    refund(payment, 600)
    refund(payment, 600)

    report = checked_refunds(payment, ledger(payment))

    assert report.refunds_over_charge_here == 1


def test_an_acknowledged_webhook_missing_from_the_inbox_is_lost_and_a_received_one_unapplied():
    StripeEvent.objects.create(
        event_id="evt_stored", event_type="payment_intent.succeeded", stripe_created=1,
        payload={}, status=StripeEventStatus.RECEIVED,
    )  # fmt: skip
    deliveries = {
        "pending": 0,
        "data": [
            {"event": "evt_stored", "succeeded": True},
            {"event": "evt_gone", "succeeded": False},
            {"event": "evt_gone", "succeeded": True},
            {"event": "evt_never", "succeeded": False},
        ],
    }
    report = ChaosReport(scenario="test")

    webhook_checks.check_webhooks(report, deliveries)

    assert (report.webhooks_delivered, report.webhook_attempts) == (2, 4)
    assert (report.webhooks_lost, report.webhooks_unapplied, report.webhooks_abandoned) == (1, 1, 1)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def payment_in_flight_between(accepted: float, finished: float | None, **fields):
    payment = PaymentFactory(status="succeeded" if finished else "processing", **fields)
    type(payment).objects.filter(pk=payment.pk).update(created_at=at(accepted))
    if finished is not None:
        event = PaymentEvent.objects.create(
            payment=payment, from_status="processing", to_status="succeeded", actor="worker"
        )
        PaymentEvent.objects.filter(pk=event.pk).update(created_at=at(finished))
    return payment


@pytest.mark.parametrize(
    ("accepted", "finished", "idle"),
    [
        (T0 - 5, T0 - 1, 1),  # done before the fault began: the fault met nothing
        (T0 + 11, T0 + 12, 1),  # accepted after it ended
        (T0 - 5, T0 + 1, 0),  # in flight when it began
        (T0 + 2, None, 0),  # accepted during it and never finished
    ],
)
def test_a_fault_window_with_no_payment_in_flight_is_idle(accepted, finished, idle):
    payment = payment_in_flight_between(accepted, finished)
    report = ChaosReport(scenario="test", fault_windows=[(T0, T0 + 10)])

    fault_windows.check_work_in_flight(report, payment.client, ServiceClock())

    assert report.idle_fault_windows == idle
    assert report.violations() == ([f"idle_fault_windows={idle}"] if idle else [])


def test_fault_windows_and_service_times_meet_on_real_time_under_a_compressed_clock():
    clock = ServiceClock(rate=30, base=int(T0) - 100)
    # Both accepted 30 real seconds before the fault; on the service's clock one took
    # 870 s (29 real seconds: done before it) and the other 960 s (32: still in flight).
    accepted = clock.base + (T0 - 30 - clock.base) * 30
    done_before = payment_in_flight_between(accepted, accepted + 870)
    payment_in_flight_between(accepted, accepted + 960, client=done_before.client)
    report = ChaosReport(scenario="test", fault_windows=[(T0, T0 + 1)])

    fault_windows.check_work_in_flight(report, done_before.client, clock)

    assert report.in_flight_per_window == [1]
    assert (report.slowest_service_seconds, report.slowest_real_seconds) == (960.0, 32.0)


def test_a_payment_completes_once_in_the_plot_whatever_its_refunds_added(tmp_path):
    payment = payment_in_flight_between(T0, T0 + 1)
    # A refund's audit note repeats the status: not a second completion.
    note = PaymentEvent.objects.create(
        payment=payment, from_status="succeeded", to_status="succeeded", actor="api:test"
    )
    PaymentEvent.objects.filter(pk=note.pk).update(created_at=at(T0 + 5))
    report = ChaosReport(scenario="test")

    check(report, payment.client, {}, {"charges": [], "refunds": []}, tmp_path)

    assert report.completions == [T0 + 1]
