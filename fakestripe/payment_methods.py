"""Stripe's test PaymentMethods and what confirming each one does: https://docs.stripe.com/testing."""

import enum
from dataclasses import dataclass

from .errors import JsonObject


class Outcome(enum.Enum):
    SUCCEED = "succeed"
    DECLINE = "decline"
    AUTHENTICATE = "authenticate"


@dataclass(frozen=True)
class Decline:
    """A card error as Stripe answers it: https://docs.stripe.com/declines/codes."""

    code: str
    decline_code: str
    message: str
    param: str | None = None
    network_status: str = "declined_by_network"
    outcome_type: str = "issuer_declined"
    seller_message: str = "The bank did not return any further details with this decline."


GENERIC_DECLINE = Decline("card_declined", "generic_decline", "Your card was declined.")
AUTHENTICATION_REQUIRED = Decline(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
    seller_message="The bank returned the decline code `authentication_required`.",
)


@dataclass(frozen=True)
class SimulatedCard:
    brand: str
    last4: str
    outcome: Outcome = Outcome.SUCCEED
    decline: Decline | None = None
    funding: str = "credit"
    country: str = "US"


def _declined(last4: str, decline: Decline) -> SimulatedCard:
    return SimulatedCard("visa", last4, Outcome.DECLINE, decline)


TEST_CARDS: dict[str, SimulatedCard] = {
    "pm_card_visa": SimulatedCard("visa", "4242"),
    "pm_card_visa_debit": SimulatedCard("visa", "5556", funding="debit"),
    "pm_card_mastercard": SimulatedCard("mastercard", "4444"),
    "pm_card_mastercard_debit": SimulatedCard("mastercard", "8210", funding="debit"),
    "pm_card_mastercard_prepaid": SimulatedCard("mastercard", "5100", funding="prepaid"),
    "pm_card_amex": SimulatedCard("amex", "8431"),
    "pm_card_discover": SimulatedCard("discover", "1117"),
    "pm_card_diners": SimulatedCard("diners", "0004"),
    "pm_card_jcb": SimulatedCard("jcb", "0000", country="JP"),
    "pm_card_unionpay": SimulatedCard("unionpay", "0005", country="CN"),
    "pm_card_chargeDeclined": _declined("0002", GENERIC_DECLINE),
    "pm_card_chargeDeclinedInsufficientFunds": _declined(
        "9995",
        Decline("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    ),
    "pm_card_chargeDeclinedExpiredCard": _declined(
        "0069", Decline("expired_card", "expired_card", "Your card has expired.", "exp_month")
    ),
    "pm_card_chargeDeclinedIncorrectCvc": _declined(
        "0127",
        Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.", "cvc"),
    ),
    "pm_card_chargeDeclinedProcessingError": _declined(
        "0119",
        Decline(
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
    ),
    "pm_card_chargeDeclinedFraudulent": _declined(
        "0019", Decline("card_declined", "fraudulent", "Your card was declined.")
    ),
    "pm_card_chargeDeclinedLostCard": _declined(
        "9987", Decline("card_declined", "lost_card", "Your card was declined.")
    ),
    "pm_card_chargeDeclinedStolenCard": _declined(
        "9979", Decline("card_declined", "stolen_card", "Your card was declined.")
    ),
    "pm_card_authenticationRequired": SimulatedCard("visa", "3184", Outcome.AUTHENTICATE),
    "pm_card_threeDSecure2Required": SimulatedCard("visa", "3220", Outcome.AUTHENTICATE),
}


def payment_method_object(payment_method_id: str, card: SimulatedCard, created: int) -> JsonObject:
    """The PaymentMethod object Stripe embeds in `last_payment_error`."""
    return {
        "id": payment_method_id,
        "object": "payment_method",
        "billing_details": _empty_billing_details(),
        "card": card_details(card),
        "created": created,
        "customer": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


def card_details(card: SimulatedCard) -> JsonObject:
    return {
        "brand": card.brand,
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },
        "country": card.country,
        "exp_month": 12,
        "exp_year": 2034,
        "fingerprint": f"fp{card.brand}{card.last4}",
        "funding": card.funding,
        "last4": card.last4,
        "wallet": None,
    }


def _empty_billing_details() -> JsonObject:
    return {"address": None, "email": None, "name": None, "phone": None}
