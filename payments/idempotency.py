"""The Idempotency-Key contract (IETF draft-ietf-httpapi-idempotency-key-header).

A key is claimed atomically by inserting (client, key) under a unique constraint; the
work and the stored response are then committed together, so a finished key always has
its exact response bytes. Replays get those bytes back; a different body is 422; a
request still running is 409.
"""

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from payments.exceptions import (
    IdempotencyKeyInFlight,
    IdempotencyKeyInvalid,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
)
from payments.models import ApiClient, IdempotencyRecord

# Printable ASCII without spaces, like Stripe's keys; 255 is Stripe's limit too.
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    replayed: bool


def validated_key(raw_key: str | None) -> str:
    if raw_key is None or raw_key == "":
        raise IdempotencyKeyMissing("the Idempotency-Key header is required for this request")
    if not _VALID_KEY.match(raw_key):
        raise IdempotencyKeyInvalid(
            "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces"
        )
    return raw_key


def fingerprint(method: str, path: str, payload: Any) -> str:
    """SHA-256 of the request as parsed: key order and whitespace do not change it."""
    canonical = json.dumps(
        [method.upper(), path, payload], sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_once(
    client: ApiClient,
    key: str,
    request_fingerprint: str,
    perform: Callable[[], StoredResponse],
) -> StoredResponse:
    """Run `perform` at most once per (client, key) and return its response, or replay it.

    `perform` runs inside the transaction that stores its response, so its writes and the
    stored response commit or roll back together. It may itself answer `replayed` when it
    finds the work already done under this key (an earlier request whose record expired).
    """
    claim = _claim(client, key, request_fingerprint)
    if claim is None:
        return _replay_or_refuse(client, key, request_fingerprint)
    return _finish(claim, perform)


def _finish(claim: IdempotencyRecord, perform: Callable[[], StoredResponse]) -> StoredResponse:
    """Do the work and store its answer against the claim, unless the claim was taken over."""
    try:
        with transaction.atomic():
            response = perform()
            IdempotencyRecord.objects.filter(pk=claim.pk, lock_token=claim.lock_token).update(
                response_status=response.status,
                response_body=response.body,
                completed_at=timezone.now(),
            )
    except BaseException:
        # Nothing was committed: free the key so the client's retry can run the request,
        # unless another request took the claim over meanwhile (the token says whose it is).
        IdempotencyRecord.objects.filter(
            pk=claim.pk, lock_token=claim.lock_token, completed_at__isnull=True
        ).delete()
        raise
    return response


def _claim(client: ApiClient, key: str, request_fingerprint: str) -> IdempotencyRecord | None:
    """Insert the claim; None when (client, key) already exists (no check-then-insert)."""
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                client=client,
                key=key,
                request_fingerprint=request_fingerprint,
                locked_at=timezone.now(),
                lock_token=uuid.uuid4(),
            )
    except IntegrityError:
        return _take_over_abandoned_claim(client, key, request_fingerprint)


def _take_over_abandoned_claim(
    client: ApiClient, key: str, request_fingerprint: str
) -> IdempotencyRecord | None:
    # A process that died between claim and commit leaves an unfinished claim behind;
    # after the lock timeout the next request with the same body may run it instead.
    stale_before = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_LOCK_TIMEOUT_SECONDS)
    token = uuid.uuid4()
    taken = IdempotencyRecord.objects.filter(
        client=client,
        key=key,
        request_fingerprint=request_fingerprint,
        completed_at__isnull=True,
        locked_at__lt=stale_before,
    ).update(locked_at=timezone.now(), lock_token=token)
    if taken:
        return IdempotencyRecord.objects.get(client=client, key=key, lock_token=token)
    return None


def _replay_or_refuse(client: ApiClient, key: str, request_fingerprint: str) -> StoredResponse:
    record = IdempotencyRecord.objects.filter(client=client, key=key).first()
    if record is None:
        # The first request failed and released the key between our insert and this read.
        raise IdempotencyKeyInFlight("the first request with this key has just finished; retry")
    refuse_other_body(record.request_fingerprint, request_fingerprint)
    if record.completed_at is None or record.response_status is None:
        raise IdempotencyKeyInFlight("a request with this Idempotency-Key is still being processed")
    return StoredResponse(
        status=record.response_status, body=bytes(record.response_body or b""), replayed=True
    )


def refuse_other_body(first_fingerprint: str, request_fingerprint: str) -> None:
    """A key is for one request: the same key with another body is refused (422)."""
    if first_fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different request body"
        )


def expire_records(older_than: timedelta | None = None) -> int:
    """Delete finished records past their lifetime; returns how many went."""
    lifetime = (
        timedelta(seconds=settings.IDEMPOTENCY_RECORD_TTL_SECONDS)
        if older_than is None
        else older_than
    )
    deleted, _ = IdempotencyRecord.objects.filter(
        completed_at__isnull=False, created_at__lt=timezone.now() - lifetime
    ).delete()
    return deleted
