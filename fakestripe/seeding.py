"""Bulk seeding for benchmarks: many PaymentIntents, with charges and refunds, in one call.

Seeded objects are stored and indexed exactly like ones made through /v1 (listable with
`created` filters, searchable by metadata, retrievable, refundable), but they are history:
no events, no webhooks, no idempotency keys.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from . import currencies
from .errors import JsonObject, invalid_request
from .forms import METADATA_MAX_KEY_LENGTH, METADATA_MAX_KEYS, METADATA_MAX_VALUE_LENGTH
from .ids import new_id, now
from .ledger import LedgerEntry
from .objects import new_charge, new_payment_intent, new_refund
from .payment_methods import TEST_CARDS
from .store import Store

SEEDABLE_STATUSES = (
    "succeeded", "processing", "requires_confirmation", "requires_payment_method", "canceled",
)  # fmt: skip
# Statuses a PaymentIntent reaches only with a payment method attached.
WITH_PAYMENT_METHOD = frozenset({"succeeded", "processing", "requires_confirmation"})
MAX_COUNT = 1_000_000
PAYMENT_METHOD = "pm_card_visa"
FIELDS = frozenset(
    {
        "count", "amount", "currency", "status", "created_from", "created_to", "metadata",
        "customer", "ledger", "refund_every", "refund_amount", "refund_metadata",
        "return_intents",
    }
)  # fmt: skip


@dataclass(frozen=True)
class SeedPlan:
    """What `POST /_fake/seed` accepts (see docs/fakestripe.md)."""

    count: int
    amount: int
    currency: str
    status: str
    created_from: int
    created_to: int
    # One template filled per intent ("{n}": its index, "{uuid}": a fresh UUID), or one
    # explicit metadata hash per intent.
    metadata: dict[str, str] | list[dict[str, str]]
    customer: str | None
    ledger: bool
    refund_every: int | None
    refund_amount: int | None
    refund_metadata: dict[str, str]
    return_intents: bool

    @classmethod
    def from_json(cls, body: JsonObject) -> "SeedPlan":
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise invalid_request(f"Unknown seed setting: {unknown[0]}", param=unknown[0])
        metadata = body.get("metadata") or {}
        if isinstance(metadata, list):
            for item in metadata:
                _check_metadata(item, "metadata")
            count = _integer(body, "count", len(metadata), 1, MAX_COUNT)
            if count != len(metadata):
                raise invalid_request(
                    "count must equal the number of metadata hashes", param="count"
                )
        else:
            _check_metadata(metadata, "metadata")
            count = _integer(body, "count", None, 1, MAX_COUNT)
        currency = currencies.normalize(str(body.get("currency", "usd")))
        if currency is None:
            raise invalid_request("currency must be an ISO 4217 code", param="currency")
        status = body.get("status", "succeeded")
        if status not in SEEDABLE_STATUSES:
            raise invalid_request(
                f"status must be one of {', '.join(SEEDABLE_STATUSES)}", param="status"
            )
        latest = now()
        created_to = _integer(body, "created_to", latest, 0, latest)
        created_from = _integer(body, "created_from", created_to, 0, created_to)
        amount = _integer(body, "amount", 2000, 1, currencies.MAXIMUM_AMOUNT)
        refund_every = body.get("refund_every")
        if refund_every is not None:
            refund_every = _integer(body, "refund_every", None, 1, MAX_COUNT)
            if status != "succeeded":
                raise invalid_request("only succeeded intents can be refunded", param="status")
        refund_amount = body.get("refund_amount")
        if refund_amount is not None:
            refund_amount = _integer(body, "refund_amount", None, 1, amount)
        refund_metadata = body.get("refund_metadata") or {}
        _check_metadata(refund_metadata, "refund_metadata")
        customer = body.get("customer")
        if customer is not None and not isinstance(customer, str):
            raise invalid_request("customer must be a string", param="customer")
        return cls(
            count=count,
            amount=amount,
            currency=currency,
            status=status,
            created_from=created_from,
            created_to=created_to,
            metadata=metadata,
            customer=customer,
            ledger=bool(body.get("ledger", True)),
            refund_every=refund_every,
            refund_amount=refund_amount,
            refund_metadata=refund_metadata,
            return_intents=bool(body.get("return_intents", True)),
        )

    def created_at(self, n: int) -> int:
        """Spread evenly from created_from to created_to, oldest first."""
        span = self.created_to - self.created_from
        return self.created_from + span * n // max(self.count - 1, 1)

    def metadata_for(self, n: int) -> dict[str, str]:
        if isinstance(self.metadata, list):
            return dict(self.metadata[n])
        return _fill(self.metadata, n)


def seed_payment_intents(store: Store, plan: SeedPlan) -> JsonObject:
    """Store `plan.count` PaymentIntents (and charges, ledger entries, refunds)."""
    intent_prototype, charge_prototype = _prototypes(plan)
    seeded: list[JsonObject] = []
    refunds = 0
    for n in range(plan.count):
        created = plan.created_at(n)
        metadata = plan.metadata_for(n)
        # A shallow copy: the nested hashes no handler changes in place are shared, which
        # keeps 100,000 intents quick to make and small in memory.
        intent = dict(intent_prototype)
        intent_id = new_id("pi_")
        intent.update(
            id=intent_id,
            client_secret=f"{intent_id}_secret_{new_id('', 25)}",
            created=created,
            metadata=metadata,
        )
        if plan.status == "canceled":
            intent["canceled_at"] = created
        refund_id = None
        if plan.status == "succeeded":
            charge = _seed_charge(store, plan, charge_prototype, intent)
            if plan.refund_every is not None and n % plan.refund_every == plan.refund_every - 1:
                refund_id = _seed_refund(store, plan, charge, intent, n)
                refunds += 1
        store.save_payment_intent(intent)
        if plan.return_intents:
            seeded.append(
                {"id": intent_id, "created": created, "metadata": metadata, "refund": refund_id}
            )
    result: JsonObject = {
        "seeded": plan.count,
        "status": plan.status,
        "created": {"first": plan.created_at(0), "last": plan.created_at(plan.count - 1)},
        "refunds": refunds,
        "counts": {
            "payment_intents": len(store.payment_intents),
            "charges": len(store.charges),
            "refunds": len(store.refunds),
        },
    }
    if plan.return_intents:
        result["payment_intents"] = seeded
    return result


def _prototypes(plan: SeedPlan) -> tuple[JsonObject, JsonObject]:
    """One intent and one charge to copy: building each from scratch is most of the cost."""
    with_payment_method = plan.status in WITH_PAYMENT_METHOD
    intent = new_payment_intent(
        amount=plan.amount,
        currency=plan.currency,
        capture_method="automatic_async",
        metadata={},
        description=None,
        customer=plan.customer,
        payment_method=PAYMENT_METHOD if with_payment_method else None,
        payment_method_types=["card"],
        receipt_email=None,
        statement_descriptor=None,
        setup_future_usage=None,
    )
    intent["status"] = plan.status
    if plan.status == "succeeded":
        intent["amount_received"] = plan.amount
    charge = new_charge(intent, PAYMENT_METHOD, TEST_CARDS[PAYMENT_METHOD], captured=True)
    return intent, charge


def _seed_charge(
    store: Store, plan: SeedPlan, prototype: JsonObject, intent: JsonObject
) -> JsonObject:
    charge = dict(prototype)
    charge.update(
        id=new_id("ch_"),
        balance_transaction=new_id("txn_"),
        created=intent["created"],
        metadata=dict(intent["metadata"]),
        payment_intent=intent["id"],
    )
    store.save_charge(charge)
    intent["latest_charge"] = charge["id"]
    if plan.ledger:
        store.add_ledger_entry(
            _ledger_entry(store, "charge", charge["id"], plan.amount, intent, intent["metadata"])
        )
    return charge


def _seed_refund(
    store: Store, plan: SeedPlan, charge: JsonObject, intent: JsonObject, n: int
) -> str:
    amount = plan.refund_amount or plan.amount
    metadata = _fill(plan.refund_metadata, n, payment_intent=intent["id"])
    refund = new_refund(charge, amount, None, metadata)
    refund["created"] = intent["created"]
    store.save_refund(refund)
    charge["amount_refunded"] = amount
    charge["refunded"] = amount == charge["amount"]
    if plan.ledger:
        store.add_ledger_entry(
            _ledger_entry(store, "refund", refund["id"], amount, intent, metadata)
        )
    return str(refund["id"])


def _ledger_entry(
    store: Store,
    entry_type: str,
    object_id: str,
    amount: int,
    intent: JsonObject,
    metadata: dict[str, str],
) -> LedgerEntry:
    return LedgerEntry(
        seq=store.ledger.next_seq(),
        type=entry_type,
        id=object_id,
        payment_intent=intent["id"],
        amount=amount,
        currency=intent["currency"],
        metadata=dict(metadata),
        idempotency_key=None,
        api_key_hash=None,
        request_id=None,
        created=intent["created"],
        charge=intent["latest_charge"],
        payment_intent_metadata=dict(intent["metadata"]) if entry_type == "refund" else {},
        source="seed",
    )


def _fill(template: dict[str, str], n: int, **values: str) -> dict[str, str]:
    filled = {}
    for key, value in template.items():
        if "{" in value:
            if "{uuid}" in value:
                value = value.replace("{uuid}", str(uuid.uuid4()))
            value = value.replace("{n}", str(n))
            for name, replacement in values.items():
                value = value.replace(f"{{{name}}}", replacement)
        filled[key] = value
    return filled


def _check_metadata(metadata: Any, name: str) -> None:
    """Stripe's metadata limits (https://docs.stripe.com/api/metadata), on the template."""
    if not isinstance(metadata, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()
    ):
        raise invalid_request(f"{name} must map strings to strings", param=name)
    if len(metadata) > METADATA_MAX_KEYS:
        raise invalid_request(f"{name} can have up to {METADATA_MAX_KEYS} keys", param=name)
    for key, value in metadata.items():
        if len(key) > METADATA_MAX_KEY_LENGTH or len(value) > METADATA_MAX_VALUE_LENGTH:
            raise invalid_request(f"{name}[{key}] is longer than Stripe allows", param=name)


def _integer(body: JsonObject, name: str, default: int | None, low: int, high: int) -> int:
    value: object = body.get(name, default)
    if value is None:
        raise invalid_request(f"{name} is required", param=name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid_request(f"{name} must be an integer from {low} to {high}", param=name)
    return value
