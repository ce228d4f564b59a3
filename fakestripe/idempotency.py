"""Stripe v1 idempotent requests: https://docs.stripe.com/api/idempotent_requests."""

import hashlib
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field

from .errors import JsonObject, StripeError, invalid_request

MAX_KEY_LENGTH = 255
DEFAULT_TTL_SECONDS = 24 * 60 * 60


@dataclass
class IdempotencyRecord:
    """A key's first request; `status` is None while that request is still executing."""

    scope: str
    key: str
    endpoint: str
    fingerprint: str
    created: float
    status: int | None = None
    body: str = ""
    request_id: str = ""
    # Headers replayed with the body (a saved 500's `Stripe-Should-Retry: false`).
    headers: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> JsonObject:
        return asdict(self)


def fingerprint(pairs: tuple[tuple[str, str], ...]) -> str:
    """Same parameters in any order give the same fingerprint."""
    canonical = "&".join(f"{key}={value}" for key, value in sorted(pairs))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyRegistry:
    """Keys per API key (scope), expiring `ttl_seconds` after first use, oldest first."""

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> None:
        self.ttl_seconds = ttl_seconds
        self._records: OrderedDict[tuple[str, str], IdempotencyRecord] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def begin(
        self, scope: str, key: str, endpoint: str, params_fingerprint: str
    ) -> tuple[IdempotencyRecord, bool]:
        """(record, True) to replay a finished request, (new claim, False) to execute.

        Raises Stripe's errors for a key that is too long, reused with other parameters
        or on another endpoint, or still held by a request in flight.
        """
        if len(key) > MAX_KEY_LENGTH:
            raise invalid_request(
                f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters long; "
                f"it was {len(key)}.",
                param="Idempotency-Key",
            )
        now = time.time()
        self.purge_expired(now)
        existing = self._records.get((scope, key))
        if existing is not None:
            if existing.endpoint != endpoint:
                raise _idempotency_error(
                    "Keys for idempotent requests can only be used for the same endpoint they "
                    f"were first used for ('{existing.endpoint}' vs '{endpoint}'). Try using a "
                    f"key other than '{key}' if you meant to execute a different request."
                )
            if existing.fingerprint != params_fingerprint:
                raise _idempotency_error(
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request."
                )
            if existing.status is None:
                raise StripeError(
                    409,
                    "invalid_request_error",
                    "There is currently another in-progress request using this Idempotent Key "
                    "(that probably means you submitted twice, and the other request is still "
                    f"going through): {key}. Please try again later.",
                    code="idempotency_key_in_use",
                )
            return existing, True
        record = IdempotencyRecord(scope, key, endpoint, params_fingerprint, now)
        self._records[(scope, key)] = record
        return record, False

    def complete(
        self,
        record: IdempotencyRecord,
        status: int,
        body: str,
        request_id: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        record.status = status
        record.body = body
        record.request_id = request_id
        record.headers = list(headers)

    def release(self, record: IdempotencyRecord) -> None:
        """Forget a claim whose request did not execute (validation failure, 500 up front)."""
        if self._records.get((record.scope, record.key)) is record:
            del self._records[(record.scope, record.key)]

    def restore(self, data: JsonObject) -> None:
        record = IdempotencyRecord(**data)
        record.headers = [(name, value) for name, value in record.headers]  # JSON made them lists
        self._records[(record.scope, record.key)] = record

    def purge_expired(self, now: float) -> None:
        horizon = now - self.ttl_seconds
        while self._records:
            oldest = next(iter(self._records.values()))
            if oldest.created > horizon or oldest.status is None:
                return
            self._records.popitem(last=False)

    def clear(self) -> None:
        self._records.clear()


def _idempotency_error(message: str) -> StripeError:
    return StripeError(400, "idempotency_error", message)
