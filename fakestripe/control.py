"""The `/_fake/` control API (JSON, no auth): faults, reset, webhooks, settings, the ledger."""

import json
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qs

from . import profiles
from .config import ServerConfig
from .confirmation import record_charge
from .errors import JsonObject, StripeError
from .events import emit
from .faults import FaultConfig, FaultInjector
from .httpwire import Request, Response
from .ids import new_id, now
from .limits import Limiter
from .objects import new_charge
from .payment_methods import TEST_CARDS
from .seeding import SeedPlan, seed_payment_intents
from .store import PendingDelivery, Store
from .webhooks import WebhookDispatcher, WebhookEndpoint


class ControlledFake(Protocol):
    """What the control API reaches into (the FakeStripe app), without importing it."""

    config: ServerConfig
    store: Store
    faults: FaultInjector
    dispatcher: WebhookDispatcher
    webhook_secret: str
    limiter: Limiter
    profile: profiles.Profile

    def restore_defaults(self) -> None: ...

    def use_profile(self, profile: profiles.Profile) -> None: ...

    def enqueue_deliveries(self, deliveries: list[PendingDelivery]) -> None: ...


PAYMENT_INTENT_STATUSES = (
    "requires_payment_method", "requires_confirmation", "requires_action", "processing",
    "requires_capture", "canceled", "succeeded",
)  # fmt: skip
# The event a forced status emits, as Stripe would for the same transition.
STATUS_EVENTS = {
    "succeeded": "payment_intent.succeeded",
    "canceled": "payment_intent.canceled",
    "requires_action": "payment_intent.requires_action",
    "processing": "payment_intent.processing",
    "requires_capture": "payment_intent.amount_capturable_updated",
}
SETTINGS = {
    "idempotency_ttl_seconds": float,
    "webhook_retry_base_seconds": float,
    "webhook_retry_factor": float,
    "webhook_retry_max_delay_seconds": float,
    "webhook_max_attempts": int,
    "webhook_timeout_seconds": float,
}


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


ControlHandler = Callable[[Request, JsonObject, str | None], Any]


class ControlApi:
    def __init__(self, app: ControlledFake) -> None:
        self.app = app
        self._routes: dict[tuple[str, str], ControlHandler] = {
            ("GET", "health"): self.health,
            ("POST", "reset"): self.reset,
            ("GET", "faults"): self.get_faults,
            ("POST", "faults"): self.set_faults,
            ("PUT", "faults"): self.set_faults,
            ("DELETE", "faults"): self.clear_faults,
            ("GET", "ledger"): self.ledger,
            ("POST", "payment_intents/:id"): self.force_payment_intent,
            ("POST", "seed"): self.seed,
            ("GET", "webhook_endpoints"): self.list_webhook_endpoints,
            ("POST", "webhook_endpoints"): self.add_webhook_endpoint,
            ("DELETE", "webhook_endpoints"): self.delete_webhook_endpoints,
            ("DELETE", "webhook_endpoints/:id"): self.delete_webhook_endpoints,
            ("GET", "webhook_deliveries"): self.webhook_deliveries,
            ("GET", "profile"): self.get_profile,
            ("POST", "profile"): self.set_profile,
            ("GET", "traffic"): self.traffic,
            ("GET", "settings"): self.get_settings,
            ("POST", "settings"): self.update_settings,
        }

    def handle(self, request: Request) -> Response:
        parts = request.path[len("/_fake/") :].strip("/").split("/")
        object_id = None
        if len(parts) == 2:
            object_id, parts[1] = parts[1], ":id"
        handler = self._routes.get((request.method, "/".join(parts)))
        try:
            if handler is None:
                raise ControlError(404, f"no control endpoint {request.method} {request.path}")
            body = _json_body(request)
            with self.app.store.lock:
                result = handler(request, body, object_id)
                deliveries = self.app.store.commit()
            self.app.enqueue_deliveries(deliveries)
            return _json_response(200, result)
        except ControlError as error:
            return _json_response(error.status, {"error": {"message": error.message}})
        except StripeError as error:
            return _json_response(error.status, error.body())

    def health(self, request: Request, body: JsonObject, _: str | None) -> JsonObject:
        store = self.app.store
        return {
            "status": "ok",
            "state_file": str(self.app.config.state_path) if self.app.config.state_path else None,
            "counts": {
                "payment_intents": len(store.payment_intents),
                "charges": len(store.charges),
                "refunds": len(store.refunds),
                "events": len(store.events),
                "idempotency_keys": len(store.idempotency),
                "webhook_endpoints": len(store.webhook_endpoints),
                "pending_webhook_deliveries": self.app.dispatcher.pending(),
                # Processing intents and pending refunds left by saved_error_partial_rate.
                "unsettled": len(store.unsettled),
            },
        }

    def reset(self, request: Request, body: JsonObject, _: str | None) -> JsonObject:
        """Back to a fresh start: state, journal, faults, settings, deliveries."""
        self.app.store.reset()
        self.app.dispatcher.clear()
        self.app.faults.configure(FaultConfig())
        self.app.restore_defaults()
        self.app.use_profile(self.app.config.start_profile())
        self.app.limiter.reset_counts()
        return {"reset": True}

    def get_profile(self, request: Request, body: JsonObject, _: str | None) -> JsonObject:
        return self.app.profile.to_json()

    def set_profile(self, request: Request, body: JsonObject, _: str | None) -> JsonObject:
        """Change latency and limits while running; fields left out keep their value."""
        try:
            profile = profiles.from_json(body, self.app.profile)
        except (TypeError, ValueError) as error:
            raise ControlError(400, f"invalid profile: {error}") from None
        self.app.use_profile(profile)
        return profile.to_json()

    def traffic(self, request: Request, body: JsonObject, _: str | None) -> JsonObject:
        """Requests and 429s by endpoint and reason (`Stripe-Rate-Limited-Reason`)."""
        return self.app.limiter.traffic()

    def get_faults(self, request: Request, body: JsonObject, _: str | None) -> JsonObject:
        return self.app.faults.status()

    def set_faults(self, request: Request, body: JsonObject, _: str | None) -> JsonObject:
        """Replace the fault config as a whole; fields left out are off."""
        try:
            config = FaultConfig.from_json(body)
        except (TypeError, ValueError) as error:
            raise ControlError(400, f"invalid fault config: {error}") from None
        self.app.faults.configure(config)
        return self.app.faults.status()

    def clear_faults(self, request: Request, body: JsonObject, _: str | None) -> JsonObject:
        self.app.faults.configure(FaultConfig())
        return self.app.faults.status()

    def ledger(self, request: Request, body: JsonObject, _: str | None) -> JsonObject:
        """`?payment_id=`, `?payment_intent=` and `?since=<seq>` filter the entries, not counts."""
        query = {k: v[-1] for k, v in parse_qs(request.query).items()}
        store = self.app.store
        entries = store.ledger.entries
        if "since" in query:
            entries = entries[_int(query["since"], "since") :]
        if "payment_intent" in query:
            entries = [e for e in entries if e.payment_intent == query["payment_intent"]]
        if "payment_id" in query:
            payment_id = query["payment_id"]
            entries = [
                e
                for e in entries
                if (e.metadata if e.type == "charge" else e.payment_intent_metadata).get(
                    "payment_id"
                )
                == payment_id
            ]
        counts = store.ledger.counts()
        counts["payment_intents"] = len(store.payment_intents)
        return {
            "charges": [e.to_json() for e in entries if e.type == "charge"],
            "refunds": [e.to_json() for e in entries if e.type == "refund"],
            "counts": counts,
            "traffic": self.app.limiter.traffic(),
        }

    def force_payment_intent(
        self, request: Request, body: JsonObject, intent_id: str | None
    ) -> JsonObject:
        """Set a PaymentIntent's status directly, e.g. to seed reconciliation mismatches.

        Forcing `succeeded` captures money like a confirmation would (a charge, a ledger
        entry with source "control"); `emit_events: false` keeps it silent.
        """
        store = self.app.store
        intent = store.payment_intents.get(intent_id or "")
        if intent is None:
            raise ControlError(404, f"no such payment_intent: {intent_id}")
        status = body.get("status")
        if status not in PAYMENT_INTENT_STATUSES:
            raise ControlError(400, f"status must be one of {', '.join(PAYMENT_INTENT_STATUSES)}")
        emit_events = bool(body.get("emit_events", True))
        if status == "succeeded" and intent["status"] != "succeeded":
            self._capture_by_force(intent, emit_events)
        intent["status"] = status
        if status == "canceled":
            intent["canceled_at"] = intent["canceled_at"] or now()
        store.save_payment_intent(intent)
        event_type = STATUS_EVENTS.get(status)
        if emit_events and event_type is not None:
            emit(store, None, event_type, intent)
        result: JsonObject = intent
        return result

    def seed(self, request: Request, body: JsonObject, _: str | None) -> JsonObject:
        """Many PaymentIntents in one call, for benchmarks (fakestripe/seeding.py)."""
        return seed_payment_intents(self.app.store, SeedPlan.from_json(body))

    def _capture_by_force(self, intent: JsonObject, emit_events: bool) -> None:
        store = self.app.store
        charge = store.charges.get(intent["latest_charge"] or "")
        if charge is None or charge["status"] != "succeeded":
            payment_method = intent["payment_method"] or "pm_card_visa"
            card = TEST_CARDS.get(payment_method, TEST_CARDS["pm_card_visa"])
            charge = new_charge(intent, payment_method, card, captured=True)
        charge.update(captured=True, amount_captured=intent["amount"])
        store.save_charge(charge)
        intent.update(
            latest_charge=charge["id"],
            amount_received=intent["amount"],
            amount_capturable=0,
            last_payment_error=None,
            next_action=None,
        )
        record_charge(store, None, intent, charge, intent["amount"], source="control")
        if emit_events:
            emit(store, None, "charge.succeeded", charge)

    def list_webhook_endpoints(
        self, request: Request, body: JsonObject, _: str | None
    ) -> JsonObject:
        endpoints = self.app.store.webhook_endpoints.values()
        return {"data": [endpoint.to_json() for endpoint in endpoints]}

    def add_webhook_endpoint(self, request: Request, body: JsonObject, _: str | None) -> JsonObject:
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ControlError(400, "url must be an http(s) URL")
        enabled_events = body.get("enabled_events") or ["*"]
        endpoint = WebhookEndpoint(
            new_id("we_"), url, body.get("secret") or self.app.webhook_secret, list(enabled_events)
        )
        self.app.store.save_webhook_endpoint(endpoint)
        return endpoint.to_json()

    def delete_webhook_endpoints(
        self, request: Request, body: JsonObject, endpoint_id: str | None
    ) -> JsonObject:
        store = self.app.store
        doomed = [endpoint_id] if endpoint_id else list(store.webhook_endpoints)
        for doomed_id in doomed:
            if doomed_id not in store.webhook_endpoints:
                raise ControlError(404, f"no such webhook endpoint: {doomed_id}")
            store.delete_webhook_endpoint(doomed_id)
        return {"deleted": doomed}

    def webhook_deliveries(self, request: Request, body: JsonObject, _: str | None) -> JsonObject:
        dispatcher = self.app.dispatcher
        return {"data": list(dispatcher.attempts), "pending": dispatcher.pending()}

    def get_settings(self, request: Request, body: JsonObject, _: str | None) -> JsonObject:
        retry = self.app.dispatcher.settings
        return {
            "idempotency_ttl_seconds": self.app.store.idempotency.ttl_seconds,
            "webhook_retry_base_seconds": retry.base_seconds,
            "webhook_retry_factor": retry.factor,
            "webhook_retry_max_delay_seconds": retry.max_delay_seconds,
            "webhook_max_attempts": retry.max_attempts,
            "webhook_timeout_seconds": retry.timeout_seconds,
        }

    def update_settings(self, request: Request, body: JsonObject, _: str | None) -> JsonObject:
        """Merge the given fields into the running settings."""
        for name, value in body.items():
            kind = SETTINGS.get(name)
            if kind is None:
                raise ControlError(400, f"unknown setting: {name}")
            if not isinstance(value, int | float) or value < 0:
                raise ControlError(400, f"{name} must be a non-negative number")
            typed = kind(value)
            retry = self.app.dispatcher.settings
            if name == "idempotency_ttl_seconds":
                self.app.store.idempotency.ttl_seconds = typed
            else:
                setattr(retry, _RETRY_FIELDS[name], typed)
        return self.get_settings(request, body, None)


_RETRY_FIELDS = {
    "webhook_retry_base_seconds": "base_seconds",
    "webhook_retry_factor": "factor",
    "webhook_retry_max_delay_seconds": "max_delay_seconds",
    "webhook_max_attempts": "max_attempts",
    "webhook_timeout_seconds": "timeout_seconds",
}


def _json_body(request: Request) -> JsonObject:
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except ValueError:
        raise ControlError(400, "body must be JSON") from None
    if not isinstance(body, dict):
        raise ControlError(400, "body must be a JSON object")
    return body


def _int(raw: str, name: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ControlError(400, f"{name} must be an integer") from None


def _json_response(status: int, body: JsonObject) -> Response:
    return Response(status, json.dumps(body).encode())
