"""One careful API client, shared by the payment and refund loads: retries reuse their key."""

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

# Answers a careful client retries with the same key: overload, outages, and a twin request
# still in flight. A 409 for any other reason (a payment that cannot be refunded) is final.
RETRYABLE_STATUSES = {429, 500, 502, 503, 504}
IN_FLIGHT_CODE = "idempotency_key_in_flight"


@dataclass
class ClientStats:
    requests_sent: int = 0
    client_retries: int = 0
    # Answers that made a client retry: "connection" (refused, reset, timed out) or the status.
    errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def should_retry(response: requests.Response | None) -> bool:
    if response is None or response.status_code in RETRYABLE_STATUSES:
        return True
    if response.status_code != 409:
        return False
    try:
        return bool(response.json().get("code") == IN_FLIGHT_CODE)
    except ValueError:
        return True  # not our problem body: a proxy's 409, worth another try


class CarefulClient:
    """Keep-alive sessions per thread; POSTs retried with backoff until a final answer."""

    def __init__(self, web_url: str, api_key: str, stats: ClientStats, seed: int) -> None:
        self.web_url = web_url
        self.api_key = api_key
        self.stats = stats
        self.random = random.Random(seed)
        self._local = threading.local()

    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {self.api_key}"
            self._local.session = session
        return self._local.session  # type: ignore[no-any-return]

    def get(self, path: str) -> requests.Response | None:
        try:
            return self.session().get(f"{self.web_url}{path}", timeout=10)
        except requests.RequestException:
            return None

    def post_until_answered(
        self, path: str, body: dict[str, object], key: str, give_up_after: float
    ) -> requests.Response | None:
        """The final answer for this key, or None if none came within `give_up_after` s."""
        deadline = time.monotonic() + give_up_after
        delay = 0.1
        while time.monotonic() < deadline:
            try:
                response: requests.Response | None = self.session().post(
                    f"{self.web_url}{path}", json=body, headers={"Idempotency-Key": key}, timeout=10
                )
            except requests.RequestException:
                response = None
            with self.stats.lock:
                self.stats.requests_sent += 1
            if not should_retry(response):
                return response
            reason = "connection" if response is None else str(response.status_code)
            with self.stats.lock:
                self.stats.client_retries += 1
                self.stats.errors[reason] += 1
            time.sleep(delay * (1 + self.random.random()))
            delay = min(delay * 2, 2.0)
        return None
