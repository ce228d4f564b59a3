"""The guide's task, as written there: retry anything, back off, no idempotency key."""

import stripe
from django.conf import settings
from django.utils import timezone

from tests.bench.peer.celery_app import app
from tests.bench.peer.models import Order


def stripe_client() -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_peer", base_addresses={"api": settings.STRIPE_API_BASE})


@app.task(
    name="peer.charge_user",
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=3,
    rate_limit=settings.PEER_RATE_LIMIT,
)
def charge_user(order_id: int) -> None:
    order = Order.objects.get(pk=order_id)
    intent = stripe_client().v1.payment_intents.create(
        params={
            "amount": order.amount,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            # Only so the fake's ledger can count charges per order; Stripe ignores it.
            "metadata": {"payment_id": str(order.pk)},
        }
    )
    Order.objects.filter(pk=order_id).update(
        status="paid", stripe_id=intent.id, paid_at=timezone.now()
    )
