"""Stripe object shapes: PaymentIntent, Charge, Refund as in https://docs.stripe.com/api."""

from .errors import JsonObject
from .ids import new_id, now
from .payment_methods import Decline, SimulatedCard, card_details


def new_payment_intent(
    *,
    amount: int,
    currency: str,
    capture_method: str,
    metadata: dict[str, str],
    description: str | None,
    customer: str | None,
    payment_method: str | None,
    payment_method_types: list[str],
    receipt_email: str | None,
    statement_descriptor: str | None,
    setup_future_usage: str | None,
) -> JsonObject:
    intent_id = new_id("pi_")
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": capture_method,
        "client_secret": f"{intent_id}_secret_{new_id('', 25)}",
        "confirmation_method": "automatic",
        "created": now(),
        "currency": currency,
        "customer": customer,
        "description": description,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": payment_method_types,
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": setup_future_usage,
        "shipping": None,
        "source": None,
        "statement_descriptor": statement_descriptor,
        "statement_descriptor_suffix": None,
        "status": "requires_confirmation" if payment_method else "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def three_d_secure_action() -> JsonObject:
    """`next_action` for a card that needs 3-D Secure (https://docs.stripe.com/payments/3d-secure)."""
    return {
        "type": "use_stripe_sdk",
        "use_stripe_sdk": {
            "type": "three_d_secure_redirect",
            "stripe_js": f"https://hooks.stripe.com/redirect/authenticate/{new_id('src_')}",
            "source": new_id("src_"),
        },
    }


def new_charge(
    intent: JsonObject,
    payment_method: str,
    card: SimulatedCard,
    *,
    captured: bool,
    decline: Decline | None = None,
) -> JsonObject:
    succeeded = decline is None
    amount = intent["amount"]
    return {
        "id": new_id("ch_"),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if succeeded and captured else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id("txn_") if succeeded and captured else None,
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "calculated_statement_descriptor": "FAKESTRIPE",
        "captured": succeeded and captured,
        "created": now(),
        "currency": intent["currency"],
        "customer": intent["customer"],
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": decline.code if decline else None,
        "failure_message": decline.message if decline else None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": _outcome(decline),
        "paid": succeeded,
        "payment_intent": intent["id"],
        "payment_method": payment_method,
        "payment_method_details": {"card": card_details(card), "type": "card"},
        "receipt_email": intent["receipt_email"],
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": intent["statement_descriptor"],
        "statement_descriptor_suffix": None,
        "status": "succeeded" if succeeded else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }


def _outcome(decline: Decline | None) -> JsonObject:
    if decline is None:
        return {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return {
        "network_status": decline.network_status,
        "reason": decline.decline_code,
        "risk_level": "normal",
        "risk_score": 32,
        "seller_message": decline.seller_message,
        "type": decline.outcome_type,
    }


def new_refund(
    charge: JsonObject, amount: int, reason: str | None, metadata: dict[str, str]
) -> JsonObject:
    return {
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn_"),
        "charge": charge["id"],
        "created": now(),
        "currency": charge["currency"],
        "destination_details": {
            "card": {"reference_status": "pending", "type": "refund"},
            "type": "card",
        },
        "metadata": metadata,
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
