"""Payments' writes: one door for every use case (HackSoft's services, Zulip's actions).

Each module holds one concern; callers import this package and call the use case.
"""

from payments.services.api_clients import (
    KeyCheck,
    check_api_key,
    create_api_client,
    create_api_key,
    revoke_api_key,
    roll_api_key,
    rotate_api_key,
)
from payments.services.charges import PaymentRequest, accept_payment, charge_payment
from payments.services.inbox import process_event, receive_event
from payments.services.operations import (
    correct_customer_email,
    mark_failed,
    reconcile_payment_now,
    retry_charge_now,
)
from payments.services.outcomes import ChargeOutcome, correct_to_succeeded, record_charge_outcome
from payments.services.reconciliation import check_payment, log_report
from payments.services.reconciliation_runs import reconcile, run_chunk, start_scheduled_run
from payments.services.recovery import (
    recover_stalled_payments,
    redrive_events,
    redrive_payments,
    redrive_refunds,
)
from payments.services.refunds import (
    REFUND_REASONS,
    execute_refund,
    record_refund_result,
    request_refund,
)

__all__ = [
    "REFUND_REASONS",
    "ChargeOutcome",
    "KeyCheck",
    "PaymentRequest",
    "accept_payment",
    "charge_payment",
    "check_api_key",
    "check_payment",
    "correct_customer_email",
    "correct_to_succeeded",
    "create_api_client",
    "create_api_key",
    "execute_refund",
    "log_report",
    "mark_failed",
    "process_event",
    "receive_event",
    "reconcile",
    "reconcile_payment_now",
    "record_charge_outcome",
    "record_refund_result",
    "recover_stalled_payments",
    "redrive_events",
    "redrive_payments",
    "redrive_refunds",
    "request_refund",
    "retry_charge_now",
    "revoke_api_key",
    "roll_api_key",
    "rotate_api_key",
    "run_chunk",
    "start_scheduled_run",
]
