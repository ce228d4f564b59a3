"""Stripe events and signatures as Stripe makes them, for webhook tests."""

import hashlib
import hmac
import json
import time
import uuid
from typing import Any


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe's scheme: HMAC-SHA256 of "<t>.<body>" (https://docs.stripe.com/webhooks)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def intent(
    intent_id: str, status: str, payment_id: str = "", error: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": 2000,
        "currency": "usd",
        "status": status,
        "metadata": {"payment_id": payment_id} if payment_id else {},
        "last_payment_error": error,
    }


def body(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()
