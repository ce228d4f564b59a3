"""Every Celery task name and its queue: the one contract between publishers and workers.

Task decorators, the outbox enqueuers, the router and the beat schedule all read these
names, so a task is renamed in one place. Names are a wire format: a message already in
a queue carries the old name, so renaming a task means draining its queue first.
"""

from typing import Any

CHARGE_PAYMENT = "payments.charge_payment"
REFUND_PAYMENT = "payments.refund_payment"
PROCESS_STRIPE_EVENT = "payments.process_stripe_event"
RECONCILE_WITH_STRIPE = "payments.reconcile_with_stripe"
RECONCILE_CHUNK = "payments.reconcile_chunk"
EXPIRE_IDEMPOTENCY_RECORDS = "payments.expire_idempotency_records"
SEND_NOTIFICATION = "notifications.send_notification"
RELAY_OUTBOX = "outbox.relay_outbox"
RECOVER_STUCK_WORK = "outbox.recover_stuck_work"

# One queue per concern, so a flood of emails never delays charging; everything not
# listed (the sweepers and other periodic work) goes to the default `maintenance` queue.
# Charges have a queue of their own, served by workers of their own: a sale's backlog of
# charges waits on Stripe's rate limit for minutes, and refunds, webhook events, receipts
# and sweepers must not wait behind it.
QUEUE_OF_TASK = {
    CHARGE_PAYMENT: "charges",
    REFUND_PAYMENT: "payments",
    PROCESS_STRIPE_EVENT: "payments",
    SEND_NOTIFICATION: "notifications",
}


def route(name: str, *args: Any, **kwargs: Any) -> dict[str, str] | None:
    """Celery router (`task_routes`): the queue of a task, by name."""
    queue = QUEUE_OF_TASK.get(name)
    return {"queue": queue} if queue else None
