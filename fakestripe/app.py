"""One request through auth, routing, faults and idempotency to its handler: the fake's core."""

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Coroutine
from typing import Any

from . import confirmation, events, payment_intents, profiles, refunds
from .config import ServerConfig
from .context import DEFAULT_API_VERSION, Handler, RawJson, RequestContext
from .control import ControlApi
from .errors import (
    JsonObject,
    StripeError,
    api_error,
    invalid_api_key,
    missing_api_key,
    rate_limited,
    unrecognized_url,
)
from .faults import SAVED_500S, Fault, FaultDecision, FaultInjector
from .forms import ParamReader, Params, decode_form
from .httpwire import Request, Response
from .idempotency import IdempotencyRecord, fingerprint
from .ids import hash_api_key, new_id
from .latency import LatencyModel, endpoint_class
from .limits import Admission, Limiter
from .settlements import Settlement, SettlementTimer
from .store import PendingDelivery, Store
from .webhooks import RetrySettings, WebhookDispatcher, WebhookEndpoint

logger = logging.getLogger(__name__)

# (method, route) → handler; a route is the path after /v1/ with ids replaced by ":id".
ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "payment_intents"): payment_intents.create_payment_intent,
    ("GET", "payment_intents"): payment_intents.list_payment_intents,
    ("GET", "payment_intents/search"): payment_intents.search_payment_intents,
    ("GET", "payment_intents/:id"): payment_intents.retrieve_payment_intent,
    ("POST", "payment_intents/:id/confirm"): payment_intents.confirm_payment_intent,
    ("POST", "payment_intents/:id/capture"): payment_intents.capture_payment_intent,
    ("POST", "payment_intents/:id/cancel"): payment_intents.cancel_payment_intent,
    ("POST", "refunds"): refunds.create_refund,
    ("GET", "refunds"): refunds.list_refunds,
    ("GET", "refunds/:id"): refunds.retrieve_refund,
    ("GET", "charges/:id"): refunds.retrieve_charge,
    ("GET", "events"): events.list_events,
    ("GET", "events/:id"): events.retrieve_event,
}
NAMED_SUBRESOURCES = frozenset({"search"})
API_KEY_PREFIXES = ("sk_test_", "rk_test_")

Outcome = Response | Coroutine[Any, Any, Response]


class FakeStripe:
    """The whole fake minus the sockets: `handle()` turns a Request into a Response."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store = Store(config.state_path)
        self.faults = FaultInjector()
        self.profile = config.start_profile()
        self.latency = LatencyModel(self.profile.latency, self.profile.seed)
        self.limiter = Limiter(self.profile.limits)
        self.dispatcher = WebhookDispatcher(
            self.default_retry_settings(), self.store.finish_delivery
        )
        self.webhook_secret = config.webhook_secret or new_id("whsec_", 32)
        self.settlement_timer = SettlementTimer(self.settle)
        self.control = ControlApi(self)
        self.restore_defaults()
        pending = self.store.replay()
        self.dispatcher.start()
        self.enqueue_deliveries(pending)
        self.settlement_timer.start()
        # Settlements the journal holds were due while the fake was down, or are due soon.
        for settlement in self.store.unsettled.values():
            self.settlement_timer.schedule(settlement)

    def default_retry_settings(self) -> RetrySettings:
        return RetrySettings(
            base_seconds=self.config.webhook_retry_base_seconds,
            max_attempts=self.config.webhook_max_attempts,
        )

    def restore_defaults(self) -> None:
        """Settings and command-line endpoints as the flags gave them (start and reset)."""
        self.store.idempotency.ttl_seconds = self.config.idempotency_ttl_seconds
        self.dispatcher.settings = self.default_retry_settings()
        for number, url in enumerate(self.config.webhook_urls, start=1):
            endpoint = WebhookEndpoint(
                f"we_cli_{number}",
                url,
                self.webhook_secret,
                enabled_events=list(self.config.webhook_events),
                from_command_line=True,
            )
            self.store.webhook_endpoints[endpoint.id] = endpoint

    def use_profile(self, profile: profiles.Profile) -> None:
        """Swap latency and limits at run time (the counts of requests and 429s stay)."""
        self.profile = profile
        self.latency.configure(profile.latency, profile.seed)
        self.limiter.configure(profile.limits)

    def close(self) -> None:
        self.dispatcher.stop()
        self.settlement_timer.stop()
        with self.store.lock:
            self.store.close()

    def enqueue_deliveries(self, deliveries: list[PendingDelivery]) -> None:
        for delivery in deliveries:
            event = delivery.event
            self.dispatcher.enqueue(event.id, event.type, event.json, delivery.endpoint)

    def settle(self, settlement: Settlement) -> None:
        """Finish a processing intent or pending refund (on the timer's thread)."""
        with self.store.lock:
            if not self.store.finish_settlement(settlement):
                return
            if settlement.object_type == "payment_intent":
                confirmation.settle_processing_intent(self.store, settlement)
            else:
                refunds.settle_pending_refund(self.store, settlement)
            deliveries = self.store.commit()
        self.enqueue_deliveries(deliveries)

    def handle(self, request: Request) -> Outcome:
        if request.path.startswith("/_fake/"):
            return self.control.handle(request)
        request_id = new_id("req_", 14)
        try:
            return self._handle_api(request, request_id)
        except StripeError as error:
            return _error_response(error, request_id)

    def _handle_api(self, request: Request, request_id: str) -> Outcome:
        method = request.method
        api_key = _api_key(request)
        handler, object_id, route = _route(method, request.path)
        # Stripe's limiters answer before anything executes, so a 429 saves nothing against
        # the idempotency key. The admission is held until the answer is made.
        admission = self.limiter.admit(f"{method} /v1/{route}", object_id, method)
        try:
            outcome = self._admitted(request, request_id, api_key, handler, object_id, route)
        except BaseException:
            self.limiter.release(admission)
            raise
        if isinstance(outcome, Response):
            self.limiter.release(admission)
            return outcome
        return self._release_after(outcome, admission)

    async def _release_after(
        self, outcome: Coroutine[Any, Any, Response], admission: Admission
    ) -> Response:
        try:
            return await outcome
        finally:
            self.limiter.release(admission)

    def _admitted(
        self,
        request: Request,
        request_id: str,
        api_key: str,
        handler: Handler,
        object_id: str | None,
        route: str,
    ) -> Outcome:
        method = request.method
        decision = self.faults.roll(method, request.path)
        if decision.fault is Fault.ERROR_429:
            self.limiter.count_injected(f"{method} /v1/{route}")
        if decision.fault in (Fault.ERROR_429, Fault.ERROR_500):
            error = (
                rate_limited(decision.retry_after_seconds)
                if decision.fault is Fault.ERROR_429
                else api_error()
            )
            response = _error_response(error, request_id)
            return (
                _later(decision.latency_seconds, response) if decision.latency_seconds else response
            )
        raw = request.query if method == "GET" else request.body.decode(errors="replace")
        params, pairs = decode_form(raw)
        key = request.header("idempotency-key") if method == "POST" else None
        context = RequestContext(
            request_id,
            hash_api_key(api_key),
            key,
            request.header("stripe-version") or DEFAULT_API_VERSION,
            decision.settle_after_seconds if decision.fault is Fault.SAVED_500_PARTIAL else None,
        )
        claim = None
        if key is not None:
            with self.store.lock:
                record, finished = self.store.idempotency.begin(
                    context.api_key_hash or "", key, f"{method} {request.path}", fingerprint(pairs)
                )
            if finished:
                response = _replay(record, request_id)
                response.drop = decision.fault is Fault.DROP
                return response
            claim = record
        confirm = method == "POST" and params.get("confirm") == "true"
        latency = decision.latency_seconds + self.latency.draw_seconds(
            endpoint_class(method, route, confirm)
        )
        if latency:
            return self._execute_later(
                latency, decision, handler, params, object_id, context, claim
            )
        return self._execute(decision, handler, params, object_id, context, claim)

    async def _execute_later(
        self,
        latency_seconds: float,
        decision: FaultDecision,
        handler: Handler,
        params: Params,
        object_id: str | None,
        context: RequestContext,
        claim: IdempotencyRecord | None,
    ) -> Response:
        # The key stays claimed while we sleep, so a concurrent retry gets the 409.
        await asyncio.sleep(latency_seconds)
        return self._execute(decision, handler, params, object_id, context, claim)

    def _execute(
        self,
        decision: FaultDecision,
        handler: Handler,
        params: Params,
        object_id: str | None,
        context: RequestContext,
        claim: IdempotencyRecord | None,
    ) -> Response:
        headers: tuple[tuple[str, str], ...] = ()
        with self.store.lock:
            try:
                result = handler(self.store, context, ParamReader(params), object_id)
                status, store_result = 200, True
                body = result.text if isinstance(result, RawJson) else _dumps(result)
            except StripeError as error:
                status, store_result, headers = error.status, error.executed, error.headers
                body = _dumps(error.body())
            except Exception:
                logger.exception("request %s failed", context.request_id)
                crash = api_error()
                status, store_result, headers = 500, False, crash.headers
                body = _dumps(crash.body())
            if store_result and decision.fault in SAVED_500S:
                # The endpoint ran (the charge or refund is made), then failed: Stripe saves
                # that 500 against the key and "subsequent requests with the same key return
                # the same result, including 500 errors" (docs.stripe.com/api/idempotent_requests).
                saved = api_error(should_retry=False)
                status, headers, body = 500, saved.headers, _dumps(saved.body())
            if claim is not None:
                # https://docs.stripe.com/api/idempotent_requests: only results of requests
                # that began executing are saved; validation failures and 500s can be retried.
                if store_result:
                    self.store.idempotency.complete(
                        claim, status, body, context.request_id, headers
                    )
                    self.store.save_idempotency_record(claim)
                else:
                    self.store.idempotency.release(claim)
            deliveries = self.store.commit()
            settlements = self.store.take_new_settlements()
        self.enqueue_deliveries(deliveries)
        for settlement in settlements:
            self.settlement_timer.schedule(settlement)
        response = Response(status, body.encode(), _headers(context, headers))
        response.drop = decision.fault is Fault.DROP
        return response


async def _later(seconds: float, response: Response) -> Response:
    await asyncio.sleep(seconds)
    return response


def _route(method: str, path: str) -> tuple[Handler, str | None, str]:
    parts = path[4:].split("/") if path.startswith("/v1/") else []
    object_id = None
    if len(parts) >= 2 and parts[1] not in NAMED_SUBRESOURCES and parts[1]:
        object_id = parts[1]
        parts[1] = ":id"
    route = "/".join(parts)
    handler = ROUTES.get((method, route))
    if handler is None:
        raise unrecognized_url(method, path)
    return handler, object_id, route


def _api_key(request: Request) -> str:
    """Bearer (what stripe-python sends) or Basic (`curl -u sk_test_...:`)."""
    authorization = request.header("authorization") or ""
    scheme, _, credentials = authorization.partition(" ")
    api_key = ""
    if scheme.lower() == "bearer":
        api_key = credentials.strip()
    elif scheme.lower() == "basic":
        try:
            api_key = base64.b64decode(credentials).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            api_key = ""
    if not api_key:
        raise missing_api_key()
    if not api_key.startswith(API_KEY_PREFIXES):
        raise invalid_api_key(api_key)
    return api_key


def _replay(record: IdempotencyRecord, request_id: str) -> Response:
    assert record.status is not None
    headers = [
        ("Request-Id", request_id),
        ("Idempotency-Key", record.key),
        ("Idempotent-Replayed", "true"),
        ("Original-Request", record.request_id),
        *record.headers,
    ]
    return Response(record.status, record.body.encode(), headers)


def _headers(context: RequestContext, extra: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    headers = [("Request-Id", context.request_id), ("Stripe-Version", context.api_version)]
    if context.idempotency_key is not None:
        headers.append(("Idempotency-Key", context.idempotency_key))
    headers.extend(extra)
    return headers


def _error_response(error: StripeError, request_id: str) -> Response:
    headers = [("Request-Id", request_id), *error.headers]
    return Response(error.status, _dumps(error.body()).encode(), headers)


def _dumps(obj: JsonObject) -> str:
    return json.dumps(obj, separators=(",", ":"))
