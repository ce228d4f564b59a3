"""A load generator that behaves like careful API clients: retries reuse their key."""

import itertools
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import DatabaseError, connection

from payments import transitions
from payments.models import ApiClient, Payment
from tests.chaos import api_client
from tests.chaos.api_client import CarefulClient, ClientStats

# What customers pay with, roughly as a real mix: mostly fine, some declines.
CARD_MIX = (
    ["pm_card_visa"] * 16
    + ["pm_card_mastercard"] * 2
    + ["pm_card_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds"]
)
PAYMENTS_PATH = "/api/v1/payments"
# What a careful client retries a payment on: on this endpoint a 409 only ever means the
# same key is still in flight (tests/chaos/matrix.py sends its refunds by it too).
RETRYABLE_STATUSES = {409, *api_client.RETRYABLE_STATUSES}
# Payments a second once `count` is reached while the faults go on.
TRICKLE_PER_SECOND = 4.0


class AcceptedPaymentListener(Protocol):
    def offer(self, payment_id: str, amount: int) -> None: ...


@dataclass
class LoadResult(ClientStats):
    submitted: int = 0
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key → payment id
    rejected: list[tuple[str, int]] = field(default_factory=list)
    concurrent_duplicates: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0


class BacklogBound:
    """Opens `may_send` while an API client has at most `limit` payments unfinished.

    Clients that send far faster than the workers finish only grow the queues: every
    payment then waits longer than the chaos suite's sweeper threshold and is re-driven
    for no fault, and a run measures its own backlog rather than the fault it injects.
    """

    def __init__(self, client: ApiClient, limit: int) -> None:
        self.client = client
        self.limit = limit
        self.may_send = threading.Event()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch)

    def __enter__(self) -> "BacklogBound":
        self._watcher.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._watcher.join()
        self.may_send.set()  # nobody is held back by a bound no longer watched

    def _watch(self) -> None:
        try:
            while not self._stop.is_set():
                if self._unfinished() <= self.limit:
                    self.may_send.set()
                else:
                    self.may_send.clear()
                self._stop.wait(0.3)
        finally:
            connection.close()  # this thread's own database connection

    def _unfinished(self) -> int:
        try:
            return (
                Payment.objects.filter(client=self.client)
                .exclude(status__in=transitions.CHARGE_FINISHED)
                .count()
            )
        except DatabaseError:
            # A fault took the database (terminated sessions, a failover): the load goes
            # on meeting it, as clients would; this thread reconnects on its next look.
            connection.close()
            return 0


class LoadGenerator:
    """Submits `count` payments from `threads` keep-alive clients, with duplicates and retries.

    Each accepted payment is offered to `on_accepted` (the refund load), once.
    """

    def __init__(
        self,
        web_url: str,
        api_key: str,
        *,
        count: int,
        threads: int = 8,
        seed: int = 7,
        on_accepted: AcceptedPaymentListener | None = None,
    ) -> None:
        self.count = count
        self.threads = threads
        self.random = random.Random(seed)
        self.result = LoadResult()
        self.client = CarefulClient(web_url, api_key, self.result, seed)
        self.on_accepted = on_accepted
        self._offered: set[str] = set()

    def run(
        self,
        give_up_after: float = 180.0,
        until: threading.Event | None = None,
        may_send: threading.Event | None = None,
    ) -> LoadResult:
        """Submit `count` payments; given `until`, go on submitting until it is set as well.

        A nemesis sets `until` when it has healed everything: past `count`, the clients go
        on at a trickle (about TRICKLE_PER_SECOND payments a second in all) so each fault
        window meets payments in flight however small `count` is, without a backlog.
        Given `may_send` (a BacklogBound's), each payment waits until it is set.
        """
        self.result.started_at = time.time()
        numbers = itertools.count()
        lock = threading.Lock()
        trickle_pause = self.threads / TRICKLE_PER_SECOND

        def client() -> None:
            while True:
                with lock:
                    number = next(numbers)
                past_count = number >= self.count
                if past_count and (until is None or until.wait(trickle_pause)):
                    return
                if may_send is not None:
                    may_send.wait()
                self._submit(self._plan(number), give_up_after)

        self._run_clients(client)
        return self.result

    def run_until(
        self,
        stop: threading.Event,
        *,
        pause: float = 0.0,
        may_send: threading.Event | None = None,
        give_up_after: float = 60.0,
    ) -> LoadResult:
        """Submit payments from `threads` clients until `stop` is set, finishing those begun.

        Each client pauses `pause` s between payments and, given `may_send`, waits while it
        is clear (back-pressure: a test keeps the backlog bounded on a busy machine).
        """
        self.result.started_at = time.time()
        numbers = itertools.count()

        def client() -> None:
            while not stop.is_set():
                if may_send is not None and not may_send.wait(0.2):
                    continue
                self._submit(self._plan(next(numbers)), give_up_after)
                stop.wait(pause)

        self._run_clients(client)
        return self.result

    def _run_clients(self, client: Callable[[], None]) -> None:
        clients = [threading.Thread(target=client) for _ in range(self.threads)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        self.result.finished_at = time.time()

    def _plan(self, number: int) -> tuple[str, dict[str, object], bool]:
        with self.result.lock:  # one Random for every client thread
            body = {
                "amount": self.random.randint(50, 50_000),
                "currency": "usd",
                "payment_method": self.random.choice(CARD_MIX),
                "customer_email": f"customer{number}@example.com",
                "description": f"chaos #{number}",
            }
            duplicate = self.random.random() < 0.1
        return f"chaos-{uuid.uuid4()}", body, duplicate

    def _submit(self, plan: tuple[str, dict[str, object], bool], give_up_after: float) -> None:
        key, body, duplicate = plan
        with self.result.lock:
            self.result.submitted += 1
        if duplicate:
            # The same request twice at once, as a double-clicking user or a retrying proxy.
            twin = threading.Thread(
                target=self._send_until_answered, args=(key, body, give_up_after)
            )
            twin.start()
            with self.result.lock:
                self.result.concurrent_duplicates += 1
            self._send_until_answered(key, body, give_up_after)
            twin.join()
        else:
            self._send_until_answered(key, body, give_up_after)

    def _send_until_answered(self, key: str, body: dict[str, object], give_up_after: float) -> None:
        response = self.client.post_until_answered(PAYMENTS_PATH, body, key, give_up_after)
        if response is None:
            with self.result.lock:
                self.result.rejected.append((key, -1))
            return
        with self.result.lock:
            if response.status_code != 202:
                self.result.rejected.append((key, response.status_code))
                return
            payment_id = response.json()["id"]
            known = self.result.accepted.setdefault(key, payment_id)
            assert known == payment_id, "one key answered with two payments"
            # A concurrent duplicate is answered twice: offer its payment once.
            first_answer = key not in self._offered
            self._offered.add(key)
        if first_answer and self.on_accepted is not None:
            amount = body["amount"]
            assert isinstance(amount, int)
            self.on_accepted.offer(payment_id, amount)
