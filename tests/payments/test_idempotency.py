"""The Idempotency-Key contract at the module level: claim, store, replay, refuse, expire."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments import idempotency
from payments.exceptions import (
    IdempotencyKeyInFlight,
    IdempotencyKeyInvalid,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
)
from payments.models import IdempotencyRecord
from tests.factories import ApiClientFactory


def answer() -> idempotency.StoredResponse:
    return idempotency.StoredResponse(202, b"{}", replayed=False)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (None, IdempotencyKeyMissing),
        ("", IdempotencyKeyMissing),
        ("has space", IdempotencyKeyInvalid),
        ("é", IdempotencyKeyInvalid),
        ("k" * 256, IdempotencyKeyInvalid),
    ],
)
def test_keys_are_1_to_255_printable_ascii_characters(raw, error):
    with pytest.raises(error):
        idempotency.validated_key(raw)


def test_a_key_of_255_characters_is_valid():
    assert idempotency.validated_key("k" * 255) == "k" * 255


def test_the_fingerprint_ignores_key_order_but_not_values():
    first = idempotency.fingerprint("post", "/p", {"a": 1, "b": {"c": 2, "d": 3}})
    same = idempotency.fingerprint("POST", "/p", {"b": {"d": 3, "c": 2}, "a": 1})
    other = idempotency.fingerprint("POST", "/p", {"a": 1, "b": {"c": 2, "d": 4}})

    assert first == same
    assert first != other


def test_the_work_runs_once_and_its_exact_answer_is_replayed(db):
    client = ApiClientFactory()
    runs = []

    def perform():
        runs.append(1)
        return idempotency.StoredResponse(202, b'{"n": 1}', replayed=False)

    first = idempotency.run_once(client, "k", "f", perform)
    again = idempotency.run_once(client, "k", "f", perform)

    assert runs == [1]
    assert (first.status, first.body, first.replayed) == (202, b'{"n": 1}', False)
    assert (again.status, again.body, again.replayed) == (202, b'{"n": 1}', True)


def test_another_body_with_the_same_key_is_refused(db):
    client = ApiClientFactory()
    idempotency.run_once(client, "k", "f1", answer)

    with pytest.raises(IdempotencyKeyReused):
        idempotency.run_once(client, "k", "f2", answer)


def test_a_claim_still_running_is_in_flight(db):
    client = ApiClientFactory()
    IdempotencyRecord.objects.create(
        client=client, key="k", request_fingerprint="f", locked_at=timezone.now()
    )

    with pytest.raises(IdempotencyKeyInFlight):
        idempotency.run_once(client, "k", "f", answer)


def test_work_that_fails_frees_the_key_for_the_retry(db):
    client = ApiClientFactory()

    def fail():
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        idempotency.run_once(client, "k", "f", fail)

    assert not IdempotencyRecord.objects.filter(key="k").exists()
    assert idempotency.run_once(client, "k", "f", answer).replayed is False


def test_expired_idempotency_records_are_deleted(db):
    client = ApiClientFactory()
    now = timezone.now()
    old = IdempotencyRecord.objects.create(
        client=client, key="old", request_fingerprint="f", locked_at=now, completed_at=now
    )
    IdempotencyRecord.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=2))
    IdempotencyRecord.objects.create(
        client=client, key="new", request_fingerprint="f", locked_at=now, completed_at=now
    )

    assert idempotency.expire_records() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def take_over(client, first: IdempotencyRecord) -> IdempotencyRecord:
    """Request A stalls past the lock timeout; request B takes its claim over."""
    IdempotencyRecord.objects.filter(pk=first.pk).update(
        locked_at=timezone.now() - timedelta(minutes=5)
    )
    second = idempotency._claim(client, "k", "f")
    assert second is not None and second.lock_token != first.lock_token
    return second


def test_a_request_that_lost_its_claim_to_a_takeover_cannot_release_the_new_claim(db):
    client = ApiClientFactory()
    first = idempotency._claim(client, "k", "f")
    second = take_over(client, first)

    def fail():
        raise RuntimeError("request A fails late")

    with pytest.raises(RuntimeError):
        idempotency._finish(first, fail)

    assert IdempotencyRecord.objects.get(key="k").lock_token == second.lock_token


def test_a_request_that_lost_its_claim_cannot_store_its_answer_over_the_new_claim(db):
    client = ApiClientFactory()
    first = idempotency._claim(client, "k", "f")
    second = take_over(client, first)

    idempotency._finish(first, answer)

    record = IdempotencyRecord.objects.get(key="k")
    assert (record.lock_token, record.completed_at) == (second.lock_token, None)


def test_an_expiry_of_zero_means_every_finished_record(db):
    client = ApiClientFactory()
    now = timezone.now()
    for key in ("a", "b"):
        IdempotencyRecord.objects.create(
            client=client, key=key, request_fingerprint="f", locked_at=now, completed_at=now
        )
    IdempotencyRecord.objects.create(
        client=client, key="running", request_fingerprint="f", locked_at=now
    )

    assert idempotency.expire_records(older_than=timedelta(0)) == 2
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["running"]
