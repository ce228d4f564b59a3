"""Refunds as merchants send them: whole, partial, and partials racing past the charge.

A share of the accepted payments is refunded once it has succeeded. Some plans send two
or three partial refunds at the same moment whose sum is more than the charge: the API
must accept some and refuse the rest with a 4xx, and nothing may be refunded twice.
"""

import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests

from tests.chaos.api_client import CarefulClient, ClientStats

# The payment states after which a refund plan is decided: refund it, or skip it.
OUTCOMES = {"succeeded", "failed", "requires_action", "canceled"}
# Plans, as shares of the charge sent at once; None asks for all that is left.
# (weight, shares): two partials that fit; three that overdraw (one must be refused);
# a partial racing "the rest" (whichever comes second gets what is left, or a 4xx).
PLANS: tuple[tuple[int, tuple[int | None, ...]], ...] = (
    (35, (None,)),
    (25, (40, 40)),
    (25, (45, 45, 45)),
    (15, (30, None)),
)
# The answers a refund may rightly get besides 202: more than is left (422), or the
# payment already refunded in full (409).
REFUSALS = {409, 422}
# RefundAnswer.status when the client gave up, or when one key got two different answers.
GAVE_UP = -1
CONFLICTING_ANSWERS = -2


@dataclass
class RefundAnswer:
    key: str
    payment_id: str
    status: int  # the final HTTP status, or GAVE_UP / CONFLICTING_ANSWERS
    refund_id: str = ""
    amount: int = 0
    # The problem code of a 4xx, and every answer the key got (twins get one each).
    code: str = ""
    seen: list[str] = field(default_factory=list)


@dataclass
class RefundLoadResult(ClientStats):
    planned: int = 0
    # Picked for a refund, but the payment did not succeed (declined, or not in time).
    skipped: int = 0
    # Payments that got several refund requests at the same moment.
    races: int = 0
    concurrent_duplicates: int = 0
    answers: dict[str, RefundAnswer] = field(default_factory=dict)  # key → final answer

    def accepted(self) -> list[RefundAnswer]:
        return [answer for answer in self.answers.values() if answer.status == 202]

    def refused(self) -> int:
        return sum(1 for answer in self.answers.values() if answer.status in REFUSALS)

    def unanswered(self) -> list[RefundAnswer]:
        """Keys that got neither a 202 nor a rightful refusal (or no final answer at all)."""
        return [a for a in self.answers.values() if a.status != 202 and a.status not in REFUSALS]


class RefundLoad:
    """Refunds a share of the payments offered to it, on its own client threads."""

    def __init__(
        self,
        web_url: str,
        api_key: str,
        *,
        share: float = 0.25,
        threads: int = 4,
        seed: int = 11,
        wait_for_outcome: float = 120.0,
        # A web process killed mid-request leaves its key claimed for the lock timeout
        # (60 s); a key may meet that more than once before it is answered.
        give_up_after: float = 300.0,
    ) -> None:
        self.result = RefundLoadResult()
        self.client = CarefulClient(web_url, api_key, self.result, seed)
        self.random = random.Random(seed)
        self.share = share
        self.wait_for_outcome = wait_for_outcome
        self.give_up_after = give_up_after
        self._work: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self._threads = [threading.Thread(target=self._serve) for _ in range(threads)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def offer(self, payment_id: str, amount: int) -> None:
        with self.result.lock:
            if self.random.random() >= self.share:
                return
            self.result.planned += 1
        self._work.put((payment_id, amount))

    def finish(self) -> RefundLoadResult:
        """Serve every offered payment, then stop the threads."""
        for _ in self._threads:
            self._work.put(None)
        for thread in self._threads:
            thread.join()
        return self.result

    def _serve(self) -> None:
        while (item := self._work.get()) is not None:
            payment_id, amount = item
            if self._outcome_of(payment_id) != "succeeded":
                with self.result.lock:
                    self.result.skipped += 1
                continue
            self._refund(payment_id, amount)

    def _outcome_of(self, payment_id: str) -> str:
        deadline = time.monotonic() + self.wait_for_outcome
        while time.monotonic() < deadline:
            response = self.client.get(f"/api/v1/payments/{payment_id}")
            if response is not None and response.status_code == 200:
                status = str(response.json()["status"])
                if status in OUTCOMES:
                    return status
            time.sleep(0.5)
        return "not final in time"

    def _refund(self, payment_id: str, amount: int) -> None:
        with self.result.lock:
            shares = self.random.choices([p for _, p in PLANS], [w for w, _ in PLANS])[0]
            duplicate = self.random.random() < 0.1
            if len(shares) > 1:
                self.result.races += 1
            if duplicate:
                self.result.concurrent_duplicates += 1
        parts = [
            (f"chaos-refund-{uuid.uuid4()}", None if share is None else amount * share // 100)
            for share in shares
        ]
        # The first request sent twice with one key, as a retrying proxy would.
        sends = parts + parts[:1] if duplicate else parts
        racers = [
            threading.Thread(target=self._send, args=(payment_id, key, part)) for key, part in sends
        ]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()

    def _send(self, payment_id: str, key: str, amount: int | None) -> None:
        body: dict[str, object] = {"reason": "requested_by_customer"}
        if amount is not None:
            body["amount"] = max(1, amount)
        response = self.client.post_until_answered(
            f"/api/v1/payments/{payment_id}/refunds", body, key, self.give_up_after
        )
        status = GAVE_UP if response is None else response.status_code
        answer = RefundAnswer(key, payment_id, status)
        if response is not None and response.status_code == 202:
            answer.refund_id = str(response.json()["id"])
            answer.amount = int(response.json()["amount"])
        elif response is not None:
            answer.code = _problem_code(response)
        with self.result.lock:
            known = self.result.answers.setdefault(key, answer)
            known.seen.append(f"{answer.status} {answer.code or answer.refund_id}".strip())
            if known is answer:
                return
            if _outcome(known) != _outcome(answer):
                # Twins with one key must get one outcome: counted with the unanswered, so
                # the checker fails the scenario.
                known.status = CONFLICTING_ANSWERS


def _outcome(answer: RefundAnswer) -> str:
    """A refusal is not stored against its key, so a twin that runs after it may be refused
    for another reason (422 "nothing left", then 409 once the payment is refunded in full):
    the same outcome. An acceptance is stored, so its twin must get that very refund."""
    return "refused" if answer.status in REFUSALS else f"{answer.status} {answer.refund_id}"


def _problem_code(response: requests.Response) -> str:
    try:
        return str(response.json().get("code", ""))
    except ValueError:
        return response.text[:80]
