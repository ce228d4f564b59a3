"""The payment state machine: forward moves only, each one recorded; one meaning per status set."""

import pytest

from payments import transitions
from payments.exceptions import InvalidTransition
from payments.models import PaymentEvent, PaymentStatus
from tests.factories import PaymentFactory

S = PaymentStatus


def reachable_from(status: str) -> set[str]:
    seen: set[str] = set()
    frontier = [status]
    while frontier:
        for target in transitions.ALLOWED_MOVES[frontier.pop()]:
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


@pytest.mark.parametrize("status", list(S))
def test_no_status_can_be_reached_again_once_left(status):
    assert status not in reachable_from(status)


def test_every_status_has_its_moves_listed():
    assert set(transitions.ALLOWED_MOVES) == set(S)


def test_a_move_records_who_why_and_the_trace(db):
    payment = PaymentFactory(status=S.PROCESSING)

    transitions.move(payment, S.SUCCEEDED, actor="worker", reason="charged", trace_id="t" * 32)

    assert payment.status == S.SUCCEEDED
    event = PaymentEvent.objects.get(payment=payment)
    assert (event.from_status, event.to_status, event.actor, event.reason, event.trace_id) == (
        S.PROCESSING,
        S.SUCCEEDED,
        "worker",
        "charged",
        "t" * 32,
    )


@pytest.mark.parametrize(
    ("start", "target"),
    [(S.SUCCEEDED, S.FAILED), (S.FAILED, S.SUCCEEDED), (S.REFUNDED, S.SUCCEEDED)],
)
def test_a_backward_move_is_refused_and_records_nothing(db, start, target):
    payment = PaymentFactory(status=start)

    with pytest.raises(InvalidTransition):
        transitions.move(payment, target, actor="worker", reason="late", trace_id="")

    assert payment.status == start
    assert not PaymentEvent.objects.filter(payment=payment).exists()


@pytest.mark.parametrize(
    ("status", "target", "forward"),
    [
        (S.PENDING, S.SUCCEEDED, True),  # through processing
        (S.PROCESSING, S.REQUIRES_ACTION, True),
        (S.REQUIRES_ACTION, S.SUCCEEDED, True),
        (S.SUCCEEDED, S.SUCCEEDED, False),
        (S.SUCCEEDED, S.FAILED, False),
        (S.CANCELED, S.SUCCEEDED, False),
    ],
)
def test_is_forward(status, target, forward):
    assert transitions.is_forward(status, target) is forward


def test_only_reconciliation_may_turn_a_failure_into_a_success(db):
    payment = PaymentFactory(status=S.FAILED)

    transitions.correct_after_reconciliation(
        payment, S.SUCCEEDED, actor="reconciliation", reason="charged at Stripe", trace_id=""
    )

    assert payment.status == S.SUCCEEDED
    with pytest.raises(InvalidTransition):
        transitions.correct_after_reconciliation(
            payment, S.FAILED, actor="reconciliation", reason="never backwards", trace_id=""
        )


def test_the_status_sets_agree_with_each_other():
    assert set(S) == transitions.CHARGE_OWED | transitions.CHARGE_FINISHED
    assert not transitions.CHARGE_OWED & transitions.CHARGE_FINISHED
    assert transitions.CHARGE_OUTCOMES <= transitions.CHARGE_FINISHED
    assert transitions.REFUNDABLE <= transitions.PAID <= transitions.CHARGE_FINISHED
    # Only what the charge task leaves behind can still move towards an outcome.
    for status in transitions.OPEN:
        assert transitions.ALLOWED_MOVES[status] & transitions.CHARGE_OUTCOMES
