"""PaymentIntents endpoints and state machine: https://docs.stripe.com/api/payment_intents."""

import base64

from . import currencies
from .confirmation import MISSING_PAYMENT_METHOD, confirm_intent, record_charge
from .context import ApiResult, RequestContext, list_object
from .errors import (
    JsonObject,
    invalid_request,
    resource_missing,
    unexpected_state,
)
from .events import emit
from .forms import ParamReader
from .ids import now
from .listing import PageRequest
from .objects import new_payment_intent
from .payment_methods import (
    TEST_CARDS,
)
from .search import parse_query
from .store import Store

CREATE_PARAMS = frozenset(
    {
        "amount", "automatic_payment_methods", "capture_method", "confirm",
        "confirmation_method", "currency", "customer", "description",
        "error_on_requires_action", "expand", "metadata", "off_session", "payment_method",
        "payment_method_types", "receipt_email", "return_url", "setup_future_usage",
        "statement_descriptor", "statement_descriptor_suffix", "transfer_group",
        "use_stripe_sdk",
    }
)  # fmt: skip
CONFIRM_PARAMS = frozenset(
    {
        "error_on_requires_action", "expand", "off_session", "payment_method",
        "payment_method_types", "receipt_email", "return_url", "setup_future_usage",
        "use_stripe_sdk",
    }
)  # fmt: skip
CAPTURE_PARAMS = frozenset({"amount_to_capture", "expand", "final_capture"})
CANCEL_PARAMS = frozenset({"cancellation_reason", "expand"})
RETRIEVE_PARAMS = frozenset({"client_secret", "expand"})
LIST_PARAMS = frozenset(
    {"created", "customer", "ending_before", "expand", "limit", "starting_after"}
)
SEARCH_PARAMS = frozenset({"expand", "limit", "page", "query"})

CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
CANCELLATION_REASONS = ("abandoned", "duplicate", "fraudulent", "requested_by_customer")
# https://docs.stripe.com/api/payment_intents/cancel allows `processing` only "in rare cases",
# for some asynchronous payment methods; a card payment that is processing cannot be canceled.
CANCELABLE = (
    "requires_payment_method", "requires_capture", "requires_confirmation", "requires_action",
)  # fmt: skip
EXPANDABLE = frozenset({"latest_charge"})


def create_payment_intent(
    store: Store, context: RequestContext, params: ParamReader, _: str | None
) -> ApiResult:
    params.reject_unknown(CREATE_PARAMS)
    amount, currency = _amount_and_currency(params)
    capture_method = params.enum("capture_method", CAPTURE_METHODS) or "automatic_async"
    payment_method = _payment_method(params)
    confirm = params.boolean("confirm") or False
    off_session = params.boolean("off_session") or False
    error_on_requires_action = params.boolean("error_on_requires_action") or False
    params.hash("automatic_payment_methods", frozenset({"enabled", "allow_redirects"}))
    expand = _expand(params)
    if confirm and payment_method is None:
        raise unexpected_state(MISSING_PAYMENT_METHOD)
    intent = new_payment_intent(
        amount=amount,
        currency=currency,
        capture_method=capture_method,
        metadata=params.metadata(),
        description=params.string("description"),
        customer=params.string("customer"),
        payment_method=payment_method,
        payment_method_types=params.string_list("payment_method_types") or ["card"],
        receipt_email=params.string("receipt_email"),
        statement_descriptor=params.string("statement_descriptor"),
        setup_future_usage=params.string("setup_future_usage"),
    )
    store.save_payment_intent(intent)
    emit(store, context, "payment_intent.created", intent)
    if confirm:
        confirm_intent(
            store, context, intent, payment_method, off_session or error_on_requires_action
        )
    return render(store, intent, expand)


def retrieve_payment_intent(
    store: Store, context: RequestContext, params: ParamReader, intent_id: str | None
) -> ApiResult:
    params.reject_unknown(RETRIEVE_PARAMS)
    return render(store, _get(store, intent_id), _expand(params))


def confirm_payment_intent(
    store: Store, context: RequestContext, params: ParamReader, intent_id: str | None
) -> ApiResult:
    params.reject_unknown(CONFIRM_PARAMS)
    intent = _get(store, intent_id)
    payment_method = _payment_method(params)
    refuse_authentication = bool(
        params.boolean("off_session") or params.boolean("error_on_requires_action")
    )
    expand = _expand(params)
    confirm_intent(store, context, intent, payment_method, refuse_authentication)
    return render(store, intent, expand)


def capture_payment_intent(
    store: Store, context: RequestContext, params: ParamReader, intent_id: str | None
) -> ApiResult:
    params.reject_unknown(CAPTURE_PARAMS)
    intent = _get(store, intent_id)
    amount = params.integer("amount_to_capture", minimum=1)
    params.boolean("final_capture")
    expand = _expand(params)
    if intent["status"] != "requires_capture":
        raise unexpected_state(
            "This PaymentIntent could not be captured because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses may "
            "be captured: requires_capture.",
            intent,
        )
    capturable = intent["amount_capturable"]
    if amount is None:
        amount = capturable
    if amount > capturable:
        raise invalid_request(
            f"The amount to capture ({amount}) is greater than the amount capturable "
            f"({capturable}).",
            param="amount_to_capture",
        )
    charge = store.charges.get(intent["latest_charge"])
    assert charge is not None
    charge.update(
        captured=True,
        amount_captured=amount,
        # Stripe releases the uncaptured remainder as refunded.
        amount_refunded=charge["amount"] - amount,
        balance_transaction=charge["balance_transaction"] or f"txn_{charge['id'][3:]}",
    )
    store.save_charge(charge)
    intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
    store.save_payment_intent(intent)
    record_charge(store, context, intent, charge, amount)
    emit(store, context, "charge.captured", charge)
    emit(store, context, "payment_intent.succeeded", intent)
    return render(store, intent, expand)


def cancel_payment_intent(
    store: Store, context: RequestContext, params: ParamReader, intent_id: str | None
) -> ApiResult:
    params.reject_unknown(CANCEL_PARAMS)
    intent = _get(store, intent_id)
    reason = params.enum("cancellation_reason", CANCELLATION_REASONS)
    expand = _expand(params)
    if intent["status"] not in CANCELABLE:
        raise unexpected_state(
            "You cannot cancel this PaymentIntent because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses may "
            f"be canceled: {', '.join(CANCELABLE)}.",
            intent,
        )
    if intent["status"] == "requires_capture":
        charge = store.charges.get(intent["latest_charge"])
        assert charge is not None
        charge.update(refunded=True, amount_refunded=charge["amount"])
        store.save_charge(charge)
    intent.update(
        status="canceled",
        canceled_at=now(),
        cancellation_reason=reason,
        amount_capturable=0,
        next_action=None,
    )
    store.save_payment_intent(intent)
    emit(store, context, "payment_intent.canceled", intent)
    return render(store, intent, expand)


def list_payment_intents(
    store: Store, context: RequestContext, params: ParamReader, _: str | None
) -> ApiResult:
    params.reject_unknown(LIST_PARAMS)
    customer = params.string("customer")
    expand = _expand(params, prefix="data.")
    page, has_more = store.payment_intents.page(
        PageRequest(
            params.limit(),
            params.string("starting_after"),
            params.string("ending_before"),
            params.created_range(),
        ),
        matches=(lambda intent: intent["customer"] == customer) if customer else None,
    )
    data = [render(store, intent, expand) for intent in page]
    return list_object("/v1/payment_intents", data, has_more)


def search_payment_intents(
    store: Store, context: RequestContext, params: ParamReader, _: str | None
) -> ApiResult:
    params.reject_unknown(SEARCH_PARAMS)
    query = parse_query(params.string("query", required=True) or "")
    limit = params.limit()
    expand = _expand(params, prefix="data.", extra=frozenset({"total_count"}))
    cursor = _decode_page(params.string("page"))
    terms = query.metadata_terms()
    # Narrow to the shortest metadata index list instead of scanning every intent.
    subset = (
        min((store.intents_by_metadata.get(term, []) for term in terms), key=len) if terms else None
    )
    page, has_more = store.payment_intents.page(
        PageRequest(limit, starting_after=cursor), matches=query.matches, subset=subset
    )
    result: JsonObject = {
        "object": "search_result",
        "data": [render(store, intent, expand - {"total_count"}) for intent in page],
        "has_more": has_more,
        "next_page": _encode_page(page[-1]["id"]) if has_more else None,
        "url": "/v1/payment_intents/search",
    }
    if "total_count" in expand:
        candidates = (
            (store.payment_intents.get(i) for i in subset)
            if subset is not None
            else store.payment_intents.values()
        )
        result["total_count"] = sum(1 for i in candidates if i is not None and query.matches(i))
    return result


def render(store: Store, intent: JsonObject, expand: frozenset[str]) -> JsonObject:
    if "latest_charge" in expand and intent["latest_charge"]:
        return {**intent, "latest_charge": store.charges.get(intent["latest_charge"])}
    return intent


def _get(store: Store, intent_id: str | None) -> JsonObject:
    intent = store.payment_intents.get(intent_id or "")
    if intent is None:
        raise resource_missing("payment_intent", intent_id or "", param="intent", status=404)
    return intent


def _amount_and_currency(params: ParamReader) -> tuple[int, str]:
    amount = params.integer("amount", required=True, minimum=1)
    assert amount is not None
    raw_currency = params.string("currency", required=True) or ""
    currency = currencies.normalize(raw_currency)
    if currency is None:
        raise invalid_request(
            f"Invalid currency: {raw_currency.lower()}. Stripe currently supports these "
            f"currencies: {', '.join(sorted(currencies.ISO_4217))}",
            param="currency",
        )
    minimum = currencies.minimum_charge(currency)
    if amount < minimum:
        raise invalid_request(
            f"Amount must be at least {currencies.format_amount(minimum, currency)} {currency}",
            param="amount",
            code="amount_too_small",
        )
    if amount > currencies.MAXIMUM_AMOUNT:
        raise invalid_request(
            "Amount must be no more than "
            f"{currencies.format_amount(currencies.MAXIMUM_AMOUNT, currency)}",
            param="amount",
            code="amount_too_large",
        )
    return amount, currency


def _payment_method(params: ParamReader) -> str | None:
    payment_method = params.string("payment_method")
    if payment_method is not None and payment_method not in TEST_CARDS:
        raise resource_missing("PaymentMethod", payment_method, param="payment_method")
    return payment_method


def _expand(
    params: ParamReader, prefix: str = "", extra: frozenset[str] = frozenset()
) -> frozenset[str]:
    fields = set()
    for path in params.string_list("expand"):
        name = path.removeprefix(prefix) if path not in extra else path
        if name not in EXPANDABLE and name not in extra:
            raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
        fields.add(name)
    return frozenset(fields)


def _encode_page(intent_id: str) -> str:
    return base64.urlsafe_b64encode(intent_id.encode()).decode()


def _decode_page(page: str | None) -> str | None:
    if page is None:
        return None
    try:
        return base64.urlsafe_b64decode(page.encode()).decode()
    except ValueError:
        raise invalid_request("Invalid page token.", param="page") from None
