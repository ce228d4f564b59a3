"""Payment gateways: the neutral interface (base) and its Stripe implementation."""

from payments.gateways.base import PaymentGateway
from payments.gateways.stripe import stripe_gateway


def get_gateway() -> PaymentGateway:
    """The gateway this deployment charges through."""
    return stripe_gateway()
