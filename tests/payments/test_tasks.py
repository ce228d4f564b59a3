"""Task names, queues and retry budgets: one contract between publishers and workers."""

import random

import pytest

from config import task_names
from config.celery import REDIS_VISIBILITY_TIMEOUT_SECONDS, app
from config.retries import (
    GATEWAY_RETRIES,
    MAX_COUNTDOWN_SECONDS,
    NOTIFICATION_RETRIES,
    RetryPolicy,
    retry_on,
)

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
        assert max(countdowns) <= MAX_COUNTDOWN_SECONDS < REDIS_VISIBILITY_TIMEOUT_SECONDS


def test_a_countdown_longer_than_the_broker_allows_is_refused():
    with pytest.raises(ValueError, match="outlives the broker"):
        RetryPolicy(
            first_delay_seconds=1, max_delay_seconds=MAX_COUNTDOWN_SECONDS + 1, max_retries=3
        )


class RecordingTask:
    """Stands in for a bound task: records what retry() was asked."""

    class Request:
        retries = 3

    request = Request()

    def __init__(self):
        self.asked = None

    def retry(self, **options):
        self.asked = options
        return RuntimeError("retry")


def test_retry_on_retries_listed_errors_with_the_policys_countdown():
    task = RecordingTask()
    policy = RetryPolicy(first_delay_seconds=2, max_delay_seconds=600, max_retries=9)

    with pytest.raises(RuntimeError, match="retry"), retry_on(task, policy, (ConnectionError,)):
        raise ConnectionError("gateway timed out")

    assert isinstance(task.asked["exc"], ConnectionError)
    assert task.asked["max_retries"] == 9
    assert 8 <= task.asked["countdown"] <= 16  # 2 * 2**3, equal jitter


def test_retry_on_lets_other_errors_through():
    task = RecordingTask()

    with pytest.raises(ValueError), retry_on(task, GATEWAY_RETRIES, (ConnectionError,)):
        raise ValueError("a template error is not worth retrying")

    assert task.asked is None
