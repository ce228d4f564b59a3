"""Refunds endpoints: https://docs.stripe.com/api/refunds."""

from . import currencies
from .context import ApiResult, RequestContext, list_object
from .errors import JsonObject, invalid_request, resource_missing
from .events import emit
from .forms import ParamReader
from .ids import now
from .ledger import LedgerEntry
from .listing import PageRequest
from .objects import new_refund
from .settlements import Settlement
from .store import Store

CREATE_PARAMS = frozenset({"amount", "charge", "expand", "metadata", "payment_intent", "reason"})
LIST_PARAMS = frozenset(
    {"charge", "created", "ending_before", "expand", "limit", "payment_intent", "starting_after"}
)
REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def create_refund(
    store: Store, context: RequestContext, params: ParamReader, _: str | None
) -> ApiResult:
    params.reject_unknown(CREATE_PARAMS)
    charge = _refundable_charge(store, params)
    amount = params.integer("amount", minimum=1)
    reason = params.enum("reason", REASONS)
    metadata = params.metadata()
    params.string_list("expand")
    unrefunded = charge["amount"] - charge["amount_refunded"]
    if unrefunded <= 0:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    if amount is None:
        amount = unrefunded
    if amount > unrefunded:
        currency = charge["currency"]
        raise invalid_request(
            f"Refund amount ({currencies.format_amount(amount, currency)}) is greater than "
            f"unrefunded amount on charge ({currencies.format_amount(unrefunded, currency)})",
            param="amount",
        )
    refund = new_refund(charge, amount, reason, metadata)
    pending = context.settle_after_seconds is not None
    if pending:
        refund["status"] = "pending"
    store.save_refund(refund)
    # A pending refund already counts against the charge, so it cannot be refunded twice.
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    store.save_charge(charge)
    if pending:
        store.add_settlement(context.settle_later("refund", refund["id"]))
    else:
        _record_refund(store, context, refund)
    emit(store, context, "refund.created", refund)
    emit(store, context, "charge.refunded", charge, previous_attributes=previous)
    return refund


def settle_pending_refund(store: Store, settlement: Settlement) -> None:
    """A pending refund goes through: `succeeded`, into the ledger, with `refund.updated`."""
    refund = store.refunds.get(settlement.object_id)
    if refund is None or refund["status"] != "pending":
        return
    context = RequestContext.of_settlement(settlement)
    refund["status"] = "succeeded"
    store.save_refund(refund)
    _record_refund(store, context, refund)
    emit(store, context, "refund.updated", refund, previous_attributes={"status": "pending"})


def _record_refund(store: Store, context: RequestContext, refund: JsonObject) -> None:
    """Money returned: the ledger entry chaos tests sum refunds from."""
    intent = store.payment_intents.get(refund["payment_intent"])
    store.add_ledger_entry(
        LedgerEntry(
            seq=store.ledger.next_seq(),
            type="refund",
            id=refund["id"],
            payment_intent=refund["payment_intent"],
            amount=refund["amount"],
            currency=refund["currency"],
            metadata=dict(refund["metadata"]),
            idempotency_key=context.idempotency_key,
            api_key_hash=context.api_key_hash,
            request_id=context.request_id,
            created=now(),
            charge=refund["charge"],
            payment_intent_metadata=dict(intent["metadata"]) if intent else {},
        )
    )


def retrieve_refund(
    store: Store, context: RequestContext, params: ParamReader, refund_id: str | None
) -> ApiResult:
    params.reject_unknown(frozenset({"expand"}))
    refund = store.refunds.get(refund_id or "")
    if refund is None:
        raise resource_missing("refund", refund_id or "", param="id", status=404)
    return refund


def list_refunds(
    store: Store, context: RequestContext, params: ParamReader, _: str | None
) -> ApiResult:
    params.reject_unknown(LIST_PARAMS)
    intent_id = params.string("payment_intent")
    charge_id = params.string("charge")
    subset: list[str] | None = None
    if intent_id is not None:
        subset = store.refunds_by_intent.get(intent_id, [])
    if charge_id is not None:
        by_charge = store.refunds_by_charge.get(charge_id, [])
        subset = by_charge if subset is None else [i for i in subset if i in set(by_charge)]
    page, has_more = store.refunds.page(
        PageRequest(
            params.limit(),
            params.string("starting_after"),
            params.string("ending_before"),
            params.created_range(),
        ),
        subset=subset,
    )
    return list_object("/v1/refunds", page, has_more)


def retrieve_charge(
    store: Store, context: RequestContext, params: ParamReader, charge_id: str | None
) -> ApiResult:
    params.reject_unknown(frozenset({"expand"}))
    charge = store.charges.get(charge_id or "")
    if charge is None:
        raise resource_missing("charge", charge_id or "", param="id", status=404)
    return charge


def _refundable_charge(store: Store, params: ParamReader) -> JsonObject:
    intent_id = params.string("payment_intent")
    charge_id = params.string("charge")
    if intent_id is None and charge_id is None:
        raise invalid_request(
            "One of the following params should be provided for this request: "
            "payment_intent or charge.",
            code="parameter_missing",
        )
    if intent_id is not None:
        intent = store.payment_intents.get(intent_id)
        if intent is None:
            raise resource_missing("payment_intent", intent_id, param="payment_intent")
        if intent["status"] != "succeeded" or intent["latest_charge"] is None:
            raise invalid_request(
                f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        charge_id = charge_id or intent["latest_charge"]
    charge = store.charges.get(charge_id or "")
    if charge is None:
        raise resource_missing("charge", charge_id or "", param="charge")
    if not charge["captured"]:
        raise invalid_request(
            f"Charge {charge['id']} has not been captured; cancel its PaymentIntent instead.",
            param="charge",
        )
    return charge
