"""Every captured charge and every refund: the ground truth chaos tests count charges in."""

from collections import Counter
from dataclasses import dataclass, field

from .errors import JsonObject


@dataclass(frozen=True)
class LedgerEntry:
    seq: int
    type: str  # "charge" | "refund"
    id: str  # ch_... or re_...
    payment_intent: str
    amount: int
    currency: str
    metadata: dict[str, str]
    idempotency_key: str | None
    api_key_hash: str | None
    request_id: str | None
    created: int
    charge: str | None = None
    payment_intent_metadata: dict[str, str] = field(default_factory=dict)
    # "api" for charges made through /v1, "control" for ones forced through /_fake/.
    source: str = "api"

    def to_json(self) -> JsonObject:
        # Shallow: an entry is frozen and its metadata never changes (asdict's deep copy
        # was most of the cost of journaling a charge).
        return dict(vars(self))


class Ledger:
    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []
        self._charges_per_payment_id: Counter[str] = Counter()

    def next_seq(self) -> int:
        return len(self.entries) + 1

    def add(self, entry: LedgerEntry) -> None:
        self.entries.append(entry)
        if entry.type == "charge":
            payment_id = entry.metadata.get("payment_id")
            if payment_id is not None:
                self._charges_per_payment_id[payment_id] += 1

    def counts(self) -> JsonObject:
        charged: Counter[str] = Counter()
        refunded: Counter[str] = Counter()
        charges = refunds = 0
        for entry in self.entries:
            if entry.type == "charge":
                charges += 1
                charged[entry.currency] += entry.amount
            else:
                refunds += 1
                refunded[entry.currency] += entry.amount
        return {
            "charges": charges,
            "refunds": refunds,
            "charged_amount": dict(charged),
            "refunded_amount": dict(refunded),
            # I1 in one field: metadata['payment_id'] values charged more than once.
            "payment_ids_charged_more_than_once": sorted(
                payment_id for payment_id, n in self._charges_per_payment_id.items() if n > 1
            ),
        }

    def clear(self) -> None:
        self.entries.clear()
        self._charges_per_payment_id.clear()
