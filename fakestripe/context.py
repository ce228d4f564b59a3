"""What every API handler receives and may return."""

import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import JsonObject
from .forms import ParamReader
from .settlements import Settlement
from .store import Store

# The API version objects are rendered in when a request names none (Stripe-Version header).
DEFAULT_API_VERSION = "2026-10-28.endive"


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    api_key_hash: str | None
    idempotency_key: str | None
    api_version: str = DEFAULT_API_VERSION
    # Set when a saved 500 executes the request only partly: a confirm leaves the intent
    # `processing` and a refund stays `pending`, each settling this many seconds later.
    settle_after_seconds: float | None = None

    def settle_later(
        self, object_type: str, object_id: str, *, refuse_authentication: bool = False
    ) -> Settlement:
        assert self.settle_after_seconds is not None
        return Settlement(
            object_type,
            object_id,
            time.time() + self.settle_after_seconds,
            self.request_id,
            self.api_key_hash,
            self.idempotency_key,
            self.api_version,
            refuse_authentication,
        )

    @classmethod
    def of_settlement(cls, settlement: Settlement) -> "RequestContext":
        """The request that left this settlement behind, to stamp its ledger entry and events."""
        return cls(
            settlement.request_id,
            settlement.api_key_hash,
            settlement.idempotency_key,
            settlement.api_version,
        )


@dataclass(frozen=True, slots=True)
class RawJson:
    """A body already serialized (lists of events, kept as JSON text)."""

    text: str


ApiResult = JsonObject | RawJson
Handler = Callable[[Store, RequestContext, ParamReader, str | None], ApiResult]


def list_object(url: str, data: list[JsonObject], has_more: bool) -> JsonObject:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
