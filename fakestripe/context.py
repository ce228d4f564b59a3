"""What every API handler receives and may return."""

from collections.abc import Callable
from dataclasses import dataclass

from .errors import JsonObject
from .forms import ParamReader
from .store import Store

# The API version objects are rendered in when a request names none (Stripe-Version header).
DEFAULT_API_VERSION = "2026-10-28.endive"


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    api_key_hash: str | None
    idempotency_key: str | None
    api_version: str = DEFAULT_API_VERSION


@dataclass(frozen=True, slots=True)
class RawJson:
    """A body already serialized (lists of events, kept as JSON text)."""

    text: str


ApiResult = JsonObject | RawJson
Handler = Callable[[Store, RequestContext, ParamReader, str | None], ApiResult]


def list_object(url: str, data: list[JsonObject], has_more: bool) -> JsonObject:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
