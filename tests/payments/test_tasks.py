"""Task names, queues and retry budgets: one contract between publishers and workers."""

import random
from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from config import task_names
from config.celery import REDIS_VISIBILITY_TIMEOUT_SECONDS, TASK_TIME_LIMIT_SECONDS, app
from config.retries import GATEWAY_RETRIES, NOTIFICATION_RETRIES, retry_on
from payments import tasks
from payments.exceptions import RetryableError
from payments.gateways.base import GatewayThrottled, ThrottleReason
from payments.models import Payment
from tests.factories import PaymentFactory

ALL_NAMES = [
    value for name, value in vars(task_names).items() if name.isupper() and isinstance(value, str)
]
HOUR = 3600
# Stripe forgets idempotency keys after 24 h; a retry after that could not be replayed.
STRIPE_KEY_LIFETIME = 24 * HOUR


def test_every_task_name_is_a_registered_task():
    app.loader.import_default_modules()
    assert sorted(set(ALL_NAMES) - set(app.tasks)) == []


@pytest.mark.parametrize(
    ("name", "queue"),
    [
        (task_names.CHARGE_PAYMENT, "charges"),
        (task_names.REFUND_PAYMENT, "payments"),
        (task_names.PROCESS_STRIPE_EVENT, "payments"),
        (task_names.SEND_NOTIFICATION, "notifications"),
        (task_names.RELAY_OUTBOX, "maintenance"),
        (task_names.RECONCILE_WITH_STRIPE, "maintenance"),
    ],
)
def test_each_task_is_routed_to_its_queue(name, queue):
    assert app.amqp.router.route({}, name)["queue"].name == queue


@pytest.mark.parametrize(
    ("policy", "at_least_hours"),
    [(GATEWAY_RETRIES, 2.5), (NOTIFICATION_RETRIES, 2.5)],
)
def test_each_retry_window_rides_out_hours_and_ends_inside_the_key_lifetime(policy, at_least_hours):
    shortest, longest = policy.window_seconds()

    assert shortest >= at_least_hours * HOUR
    assert longest < STRIPE_KEY_LIFETIME
    print(f"{policy}: {shortest / HOUR:.1f} h to {longest / HOUR:.1f} h")


@pytest.mark.parametrize("policy", [GATEWAY_RETRIES, NOTIFICATION_RETRIES])
def test_jittered_countdowns_stay_inside_the_computed_window(policy):
    rng = random.Random(7)
    shortest, longest = policy.window_seconds()

    for _ in range(200):
        countdowns = [policy.countdown(retry, rng) for retry in range(policy.max_retries)]
        assert shortest <= sum(countdowns) <= longest


def test_the_visibility_timeout_outlasts_the_hard_time_limit_and_no_more_than_needed():
    # No message waits in a worker for a countdown: it is held only while its task runs.
    assert TASK_TIME_LIMIT_SECONDS < REDIS_VISIBILITY_TIMEOUT_SECONDS <= 4 * 60
    assert app.conf.task_time_limit == TASK_TIME_LIMIT_SECONDS
    assert app.conf.broker_transport_options["visibility_timeout"] == 180


@pytest.fixture
def nothing_published(monkeypatch):
    """Fails the test if anything is sent to the broker (a countdown, an ETA, a re-queue)."""
    sent: list[tuple] = []
    monkeypatch.setattr(app, "send_task", lambda *args, **kwargs: sent.append((args, kwargs)))
    monkeypatch.setattr(
        "celery.app.task.Task.apply_async", lambda *args, **kwargs: sent.append((args, kwargs))
    )
    yield
    assert sent == []


def failing_charge(monkeypatch, error: Exception) -> None:
    def fail(payment_id, gateway):
        raise error

    monkeypatch.setattr(tasks.services, "charge_payment", fail)
    monkeypatch.setattr(tasks, "get_paced_gateway", lambda: None)


def test_a_failed_charge_records_its_next_attempt_and_its_task_ends(
    db, monkeypatch, nothing_published
):
    payment = PaymentFactory(status="processing", retries=3)
    failing_charge(monkeypatch, RetryableError("the gateway timed out"))
    before = timezone.now()

    with pytest.raises(Retry) as retry:
        tasks.charge_payment(str(payment.pk))

    payment.refresh_from_db()
    assert payment.retries == 4
    # 2 s doubled three times, equal jitter: 8 to 16 s from now.
    assert before + timedelta(seconds=8) <= payment.next_attempt_at
    assert payment.next_attempt_at <= timezone.now() + timedelta(seconds=16)
    assert retry.value.when == payment.next_attempt_at
    assert retry.value.sig is None  # Celery publishes nothing for it
    assert isinstance(retry.value.exc, RetryableError)


def test_with_its_budget_spent_the_charge_fails_and_waits_for_the_sweeper(
    db, monkeypatch, nothing_published
):
    payment = PaymentFactory(status="processing", retries=GATEWAY_RETRIES.max_retries)
    failing_charge(monkeypatch, RetryableError("still down"))

    with pytest.raises(RetryableError):
        tasks.charge_payment(str(payment.pk))

    payment.refresh_from_db()
    assert (payment.retries, payment.next_attempt_at) == (GATEWAY_RETRIES.max_retries, None)


def test_a_throttled_charge_is_deferred_without_spending_a_retry(
    db, monkeypatch, settings, nothing_published
):
    settings.STRIPE_PACE_MIN_DEFERRAL_SECONDS = 0.5
    payment = PaymentFactory(status="processing", retries=2)
    failing_charge(
        monkeypatch,
        GatewayThrottled("no token", wait_seconds=0.1, reason=ThrottleReason.PACER, sent=False),
    )
    before = timezone.now()

    with pytest.raises(Retry):
        tasks.charge_payment(str(payment.pk))

    payment.refresh_from_db()
    assert payment.retries == 2  # the failure budget is untouched
    # The 0.5 s minimum, spread up to twice that.
    assert before + timedelta(seconds=0.5) <= payment.next_attempt_at
    assert payment.next_attempt_at <= timezone.now() + timedelta(seconds=1)


def test_retry_on_lets_other_errors_through(db):
    payment = PaymentFactory()
    rows = Payment.objects.filter(pk=payment.pk)

    with pytest.raises(ValueError), retry_on(rows, GATEWAY_RETRIES, (ConnectionError,)):
        raise ValueError("a template error is not worth retrying")

    payment.refresh_from_db()
    assert (payment.retries, payment.next_attempt_at) == (0, None)


def test_every_retry_of_a_whole_budget_lands_inside_the_computed_window(db, monkeypatch):
    """The budget counted on the row: 40 failures in a row schedule 40 attempts, whose
    delays add up inside the policy's window, and the 41st failure schedules none."""
    payment = PaymentFactory(status="processing")
    failing_charge(monkeypatch, RetryableError("down"))
    delays = []
    for _ in range(GATEWAY_RETRIES.max_retries):
        started = timezone.now()
        with pytest.raises(Retry) as retry:
            tasks.charge_payment(str(payment.pk))
        delays.append((retry.value.when - started).total_seconds())

    shortest, longest = GATEWAY_RETRIES.window_seconds()
    assert shortest - 1 <= sum(delays) <= longest + 1
    with pytest.raises(RetryableError):
        tasks.charge_payment(str(payment.pk))
