"""The Stripe gateway: the only package that imports `stripe` or reads Stripe's formats."""

from functools import cache

import stripe
from django.conf import settings

from payments.gateways.stripe.gateway import StripeGateway


@cache
def _stripe_client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_API_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        # Retries belong to Celery (backoff, jitter, visible in metrics); one quick retry
        # here absorbs a dropped keep-alive connection. Same idempotency key either way.
        max_network_retries=1,
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    )


def stripe_gateway() -> StripeGateway:
    """The gateway for this process (one StripeClient, reused for keep-alive)."""
    return StripeGateway(
        _stripe_client(),
        webhook_secrets=settings.STRIPE_WEBHOOK_SECRETS,
        webhook_tolerance_seconds=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
    )


__all__ = ["StripeGateway", "stripe_gateway"]
