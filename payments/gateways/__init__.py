"""Payment gateways: the neutral interface (base) and its Stripe implementation."""

from django.conf import settings

from payments.gateways import pacing
from payments.gateways.base import PaymentGateway
from payments.gateways.stripe import stripe_gateway


def get_gateway() -> PaymentGateway:
    """The gateway this deployment charges through, unpaced (operators, the web)."""
    return stripe_gateway()


def get_paced_gateway() -> PaymentGateway:
    """The gateway for workers: every call first takes a token of the fleet's budget."""
    gateway = get_gateway()
    if not settings.STRIPE_PACING_ENABLED:
        return gateway
    return pacing.PacedGateway(
        gateway,
        pacing.pacer_from_settings(),
        max_wait_seconds=settings.STRIPE_PACE_MAX_WAIT_SECONDS,
    )
