"""Money movements a request left unfinished (a saved 500 that executed partly), settled later."""

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from .errors import JsonObject

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settlement:
    """A `processing` PaymentIntent or `pending` Refund to finish at `due` (Unix time).

    It keeps the request that started it, so the ledger entry and the events it makes
    name that request's idempotency key, as the synchronous path would.
    """

    object_type: str  # "payment_intent" | "refund"
    object_id: str
    due: float
    request_id: str
    api_key_hash: str | None
    idempotency_key: str | None
    api_version: str
    # A confirm with off_session / error_on_requires_action: 3-D Secure becomes a decline.
    refuse_authentication: bool = False

    def to_json(self) -> JsonObject:
        return asdict(self)


class SettlementTimer:
    """One thread that hands each settlement to `settle` when it falls due."""

    def __init__(self, settle: Callable[[Settlement], None]) -> None:
        self._settle = settle
        self._queue: list[tuple[float, int, Settlement]] = []
        self._order = itertools.count()
        self._wakeup = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="fakestripe-settlements", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()
        self._thread.join(timeout=5)

    def schedule(self, settlement: Settlement) -> None:
        with self._wakeup:
            heapq.heappush(self._queue, (settlement.due, next(self._order), settlement))
            self._wakeup.notify()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._stopping and (not self._queue or self._queue[0][0] > time.time()):
                    timeout = self._queue[0][0] - time.time() if self._queue else None
                    self._wakeup.wait(timeout)
                if self._stopping:
                    return
                _, _, settlement = heapq.heappop(self._queue)
            try:
                self._settle(settlement)
            except Exception:
                logger.exception(
                    "settling %s %s failed", settlement.object_type, settlement.object_id
                )
