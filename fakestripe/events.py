"""Events: emitted on every state change, listed and retrieved like https://docs.stripe.com/api/events."""

import json

from .context import RawJson, RequestContext
from .errors import JsonObject, resource_missing
from .forms import ParamReader
from .ids import new_id, now
from .listing import PageRequest
from .store import EventRecord, Store

LIST_PARAMS = frozenset(
    {
        "created",
        "delivery_success",
        "ending_before",
        "expand",
        "limit",
        "starting_after",
        "type",
        "types",
    }
)


def emit(
    store: Store,
    context: RequestContext | None,
    event_type: str,
    obj: JsonObject,
    previous_attributes: JsonObject | None = None,
) -> None:
    """Snapshot `obj` into a new event (and queue it for the endpoints that want it)."""
    endpoint_ids = tuple(
        endpoint.id for endpoint in store.webhook_endpoints.values() if endpoint.wants(event_type)
    )
    data: JsonObject = {"object": obj}
    if previous_attributes:
        data["previous_attributes"] = previous_attributes
    event_id = new_id("evt_")
    created = now()
    event = {
        "id": event_id,
        "object": "event",
        "api_version": context.api_version if context else None,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": len(endpoint_ids),
        "request": {
            "id": context.request_id if context else None,
            "idempotency_key": context.idempotency_key if context else None,
        },
        "type": event_type,
    }
    store.add_event(EventRecord(event_id, event_type, created, json.dumps(event), endpoint_ids))


def retrieve_event(
    store: Store, context: RequestContext, params: ParamReader, event_id: str | None
) -> RawJson:
    params.reject_unknown(frozenset({"expand"}))
    event = store.events.get(event_id or "")
    if event is None:
        raise resource_missing("event", event_id or "", param="id", status=404)
    return RawJson(event.json)


def list_events(
    store: Store, context: RequestContext, params: ParamReader, _: str | None
) -> RawJson:
    params.reject_unknown(LIST_PARAMS)
    types = set(params.string_list("types"))
    single = params.string("type")
    if single is not None:
        types.add(single)
    prefixes = tuple(t[:-1] for t in types if t.endswith("*"))
    exact = {t for t in types if not t.endswith("*")}

    def wanted(event: EventRecord) -> bool:
        return event.type in exact or event.type.startswith(prefixes)

    page, has_more = store.events.page(
        PageRequest(
            params.limit(),
            params.string("starting_after"),
            params.string("ending_before"),
            params.created_range(),
        ),
        matches=wanted if types else None,
    )
    data = ",".join(event.json for event in page)
    return RawJson(
        f'{{"object":"list","data":[{data}],"has_more":{json.dumps(has_more)},"url":"/v1/events"}}'
    )
