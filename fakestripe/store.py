"""In-memory state behind one lock, with indexes, and its journal (write and replay)."""

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from .errors import JsonObject
from .idempotency import IdempotencyRecord, IdempotencyRegistry
from .journal import Journal, encode
from .ledger import Ledger, LedgerEntry
from .listing import TimeOrderedIndex
from .settlements import Settlement
from .webhooks import WebhookEndpoint

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event is immutable once emitted, so it is kept as the JSON Stripe would send."""

    id: str
    type: str
    created: int
    json: str
    # Endpoints it is to be delivered to, journaled so a restart resumes delivery.
    endpoint_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    event: EventRecord
    endpoint: WebhookEndpoint


class Store:
    """All objects; callers hold `lock` across a request and `commit()` at its end."""

    def __init__(self, state_path: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.payment_intents: TimeOrderedIndex[JsonObject] = TimeOrderedIndex("payment_intent")
        self.charges: TimeOrderedIndex[JsonObject] = TimeOrderedIndex("charge")
        self.refunds: TimeOrderedIndex[JsonObject] = TimeOrderedIndex("refund")
        self.events: TimeOrderedIndex[EventRecord] = TimeOrderedIndex("event")
        self.intents_by_metadata: dict[tuple[str, str], list[str]] = {}
        self.refunds_by_intent: dict[str, list[str]] = {}
        self.refunds_by_charge: dict[str, list[str]] = {}
        self.ledger = Ledger()
        self.idempotency = IdempotencyRegistry()
        self.webhook_endpoints: dict[str, WebhookEndpoint] = {}
        # Processing intents and pending refunds still to settle, by object id.
        self.unsettled: dict[str, Settlement] = {}
        self._journal = Journal(state_path) if state_path is not None else None
        self._dirty: dict[tuple[str, str], JsonObject] = {}
        self._lines: list[str] = []
        self._new_deliveries: list[PendingDelivery] = []
        self._new_settlements: list[Settlement] = []

    # Mutations: each updates memory now and is journaled at commit().

    def save_payment_intent(self, intent: JsonObject) -> None:
        if self.payment_intents.put(intent["id"], intent["created"], intent):
            for pair in intent["metadata"].items():
                self.intents_by_metadata.setdefault(pair, []).append(intent["id"])
        self._mark_dirty("payment_intent", intent)

    def save_charge(self, charge: JsonObject) -> None:
        self.charges.put(charge["id"], charge["created"], charge)
        self._mark_dirty("charge", charge)

    def save_refund(self, refund: JsonObject) -> None:
        if self.refunds.put(refund["id"], refund["created"], refund):
            self.refunds_by_intent.setdefault(refund["payment_intent"], []).append(refund["id"])
            self.refunds_by_charge.setdefault(refund["charge"], []).append(refund["id"])
        self._mark_dirty("refund", refund)

    def add_event(self, event: EventRecord) -> None:
        self.events.put(event.id, event.created, event)
        for endpoint_id in event.endpoint_ids:
            self._new_deliveries.append(PendingDelivery(event, self.webhook_endpoints[endpoint_id]))
        self._append(
            {
                "kind": "event",
                "id": event.id,
                "type": event.type,
                "created": event.created,
                "json": event.json,
                "endpoint_ids": list(event.endpoint_ids),
            }
        )

    def add_ledger_entry(self, entry: LedgerEntry) -> None:
        self.ledger.add(entry)
        if self._journal is not None:  # building the record costs more than the entry itself
            self._append({"kind": "ledger", "entry": entry.to_json()})

    def save_idempotency_record(self, record: IdempotencyRecord) -> None:
        if self._journal is not None:
            self._append({"kind": "idempotency", "record": record.to_json()})

    def add_settlement(self, settlement: Settlement) -> None:
        self.unsettled[settlement.object_id] = settlement
        self._new_settlements.append(settlement)
        self._append({"kind": "settlement", "settlement": settlement.to_json()})

    def finish_settlement(self, settlement: Settlement) -> bool:
        """Take a due settlement off the books; False if a reset (or a replay) dropped it."""
        if self.unsettled.get(settlement.object_id) != settlement:
            return False
        del self.unsettled[settlement.object_id]
        self._append({"kind": "settled", "id": settlement.object_id})
        return True

    def take_new_settlements(self) -> list[Settlement]:
        """Settlements added since the last call, for the timer."""
        settlements, self._new_settlements = self._new_settlements, []
        return settlements

    def save_webhook_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self.webhook_endpoints[endpoint.id] = endpoint
        if not endpoint.from_command_line:
            self._append({"kind": "webhook_endpoint", "endpoint": endpoint.to_json()})

    def delete_webhook_endpoint(self, endpoint_id: str) -> None:
        self.webhook_endpoints.pop(endpoint_id, None)
        self._append({"kind": "webhook_endpoint_deleted", "id": endpoint_id})

    def finish_delivery(self, event_id: str, endpoint_id: str, succeeded: bool) -> None:
        """Called by webhook threads when an event is delivered or given up on."""
        with self.lock:
            self._append(
                {"kind": "delivery", "event": event_id, "endpoint": endpoint_id, "ok": succeeded}
            )
            self.commit()

    def commit(self) -> list[PendingDelivery]:
        """Journal this request's mutations in one write; return the webhooks it owes."""
        if self._journal is not None and (self._dirty or self._lines):
            lines = [
                encode({"kind": kind, "object": obj}) for (kind, _), obj in self._dirty.items()
            ]
            lines.extend(self._lines)
            self._journal.append(lines)
        self._dirty.clear()
        self._lines.clear()
        deliveries, self._new_deliveries = self._new_deliveries, []
        return deliveries

    def reset(self) -> None:
        for index in (self.payment_intents, self.charges, self.refunds, self.events):
            index.clear()
        self.intents_by_metadata.clear()
        self.refunds_by_intent.clear()
        self.refunds_by_charge.clear()
        self.ledger.clear()
        self.idempotency.clear()
        self.unsettled.clear()
        self.webhook_endpoints = {
            endpoint.id: endpoint
            for endpoint in self.webhook_endpoints.values()
            if endpoint.from_command_line
        }
        self._dirty.clear()
        self._lines.clear()
        self._new_deliveries.clear()
        self._new_settlements.clear()
        if self._journal is not None:
            self._journal.truncate()

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()

    def _mark_dirty(self, kind: str, obj: JsonObject) -> None:
        if self._journal is not None:
            self._dirty[(kind, obj["id"])] = obj

    def _append(self, record: JsonObject) -> None:
        if self._journal is not None:
            self._lines.append(encode(record))

    # Replay.

    def replay(self) -> list[PendingDelivery]:
        """Rebuild state from the journal; return deliveries that never finished."""
        if self._journal is None:
            return []
        journal, self._journal = self._journal, None  # replaying must not re-journal
        unfinished: dict[tuple[str, str], EventRecord] = {}
        count = 0
        try:
            for record in journal.replay():
                count += 1
                self._apply(record, unfinished)
        finally:
            self._journal = journal
        logger.info("replayed %d journal records from %s", count, journal.path)
        return [
            PendingDelivery(event, self.webhook_endpoints[endpoint_id])
            for (event_id, endpoint_id), event in unfinished.items()
            if endpoint_id in self.webhook_endpoints
        ]

    def _apply(self, record: JsonObject, unfinished: dict[tuple[str, str], EventRecord]) -> None:
        kind = record["kind"]
        if kind == "payment_intent":
            self.save_payment_intent(record["object"])
        elif kind == "charge":
            self.save_charge(record["object"])
        elif kind == "refund":
            self.save_refund(record["object"])
        elif kind == "event":
            event = EventRecord(
                record["id"],
                record["type"],
                record["created"],
                record["json"],
                tuple(record["endpoint_ids"]),
            )
            self.events.put(event.id, event.created, event)
            for endpoint_id in event.endpoint_ids:
                unfinished[(event.id, endpoint_id)] = event
        elif kind == "delivery":
            unfinished.pop((record["event"], record["endpoint"]), None)
        elif kind == "ledger":
            self.ledger.add(LedgerEntry(**record["entry"]))
        elif kind == "idempotency":
            self.idempotency.restore(record["record"])
        elif kind == "settlement":
            settlement = Settlement(**record["settlement"])
            self.unsettled[settlement.object_id] = settlement
        elif kind == "settled":
            self.unsettled.pop(record["id"], None)
        elif kind == "webhook_endpoint":
            endpoint = WebhookEndpoint(**record["endpoint"])
            self.webhook_endpoints[endpoint.id] = endpoint
        elif kind == "webhook_endpoint_deleted":
            self.webhook_endpoints.pop(record["id"], None)
        else:
            logger.warning("skipping unknown journal record kind %r", kind)
