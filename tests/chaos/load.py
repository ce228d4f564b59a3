"""A load generator that behaves like careful API clients: retries reuse their key."""

import itertools
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

# What customers pay with, roughly as a real mix: mostly fine, some declines.
CARD_MIX = (
    ["pm_card_visa"] * 16
    + ["pm_card_mastercard"] * 2
    + ["pm_card_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds"]
)
RETRYABLE_STATUSES = {409, 429, 500, 502, 503, 504}


@dataclass
class LoadResult:
    submitted: int = 0
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key → payment id
    rejected: list[tuple[str, int]] = field(default_factory=list)
    requests_sent: int = 0
    client_retries: int = 0
    concurrent_duplicates: int = 0
    # Answers that made a client retry: "connection" (refused, reset, timed out) or the status.
    errors: Counter[str] = field(default_factory=Counter)
    started_at: float = 0.0
    finished_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class LoadGenerator:
    """Submits `count` payments from `threads` keep-alive clients, with duplicates and retries."""

    def __init__(
        self, web_url: str, api_key: str, *, count: int, threads: int = 8, seed: int = 7
    ) -> None:
        self.url = f"{web_url}/api/v1/payments"
        self.api_key = api_key
        self.count = count
        self.threads = threads
        self.random = random.Random(seed)
        self.result = LoadResult()
        self._local = threading.local()

    def run(self, give_up_after: float = 180.0) -> LoadResult:
        self.result.started_at = time.time()
        plans = [self._plan(i) for i in range(self.count)]
        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(lambda plan: self._submit(plan, give_up_after), plans))
        self.result.finished_at = time.time()
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

        clients = [threading.Thread(target=client) for _ in range(self.threads)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        self.result.finished_at = time.time()
        return self.result

    def _plan(self, number: int) -> tuple[str, dict[str, object], bool]:
        body = {
            "amount": self.random.randint(50, 50_000),
            "currency": "usd",
            "payment_method": self.random.choice(CARD_MIX),
            "customer_email": f"customer{number}@example.com",
            "description": f"chaos #{number}",
        }
        duplicate = self.random.random() < 0.1
        return f"chaos-{uuid.uuid4()}", body, duplicate

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {self.api_key}"
            self._local.session = session
        return self._local.session  # type: ignore[no-any-return]

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
        deadline = time.monotonic() + give_up_after
        delay = 0.1
        while time.monotonic() < deadline:
            try:
                response = self._session().post(
                    self.url, json=body, headers={"Idempotency-Key": key}, timeout=10
                )
            except requests.RequestException:
                response = None
            with self.result.lock:
                self.result.requests_sent += 1
            if response is not None and response.status_code not in RETRYABLE_STATUSES:
                with self.result.lock:
                    if response.status_code == 202:
                        payment_id = response.json()["id"]
                        known = self.result.accepted.setdefault(key, payment_id)
                        assert known == payment_id, "one key answered with two payments"
                    else:
                        self.result.rejected.append((key, response.status_code))
                return
            with self.result.lock:
                self.result.client_retries += 1
                self.result.errors[
                    "connection" if response is None else str(response.status_code)
                ] += 1
            time.sleep(delay * (1 + self.random.random()))
            delay = min(delay * 2, 2.0)
        with self.result.lock:
            self.result.rejected.append((key, -1))
