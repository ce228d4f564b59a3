"""StripeGateway: every call to Stripe through one StripeClient, one span, one error mapping."""

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import stripe
from opentelemetry import trace

from config.metrics import STRIPE_RATE_LIMITED, observe_stripe_call
from payments.gateways.base import (
    CardDeclined,
    CreateIntent,
    CreateRefund,
    GatewayEvent,
    GatewayRejected,
    GatewayServerError,
    GatewayThrottled,
    GatewayUnavailable,
    IntentResult,
    Page,
    RefundResult,
    ThrottleReason,
)
from payments.gateways.stripe import webhooks
from payments.gateways.stripe.objects import intent_result, refund_result

tracer = trace.get_tracer(__name__)

LIST_PAGE_SIZE = 100

# Stripe says these errors decided nothing: the same request with the same idempotency
# key may be sent again. https://docs.stripe.com/error-low-level#idempotency
_UNDECIDED_ERRORS = (
    stripe.APIConnectionError,  # timeout or dropped connection: maybe executed, key replays it
    stripe.APIError,  # 409 idempotency_key_in_use (5xx are GatewayServerError)
    # A wrong or revoked key is an operator's problem: keep the payment, alert, retry later.
    stripe.AuthenticationError,
    stripe.PermissionError,
)


class StripeGateway:
    """PaymentGateway over Stripe's PaymentIntents API through the official StripeClient."""

    def __init__(
        self,
        client: stripe.StripeClient,
        *,
        webhook_secrets: Sequence[str] = (),
        webhook_tolerance_seconds: int = 300,
    ) -> None:
        self._client = client
        self._webhook_secrets = tuple(webhook_secrets)
        self._webhook_tolerance_seconds = webhook_tolerance_seconds

    @contextmanager
    def _call(self, operation: str, **attributes: str) -> Iterator[trace.Span]:
        # Metrics outside the span's error mapping: errors are counted by our exception names.
        with (
            observe_stripe_call(operation),
            tracer.start_as_current_span(
                f"stripe.{operation}", kind=trace.SpanKind.CLIENT, attributes=attributes
            ) as span,
        ):
            try:
                yield span
            except stripe.CardError as error:
                _record_request_id(span, error.request_id)
                details = error.error
                intent = details.payment_intent if details else None
                raise CardDeclined(
                    failure_code=(details.decline_code if details else None) or error.code or "",
                    message=error.user_message or "card declined",
                    intent_id=intent.id if intent else "",
                ) from error
            except stripe.RateLimitError as error:
                # Answered before executing, so nothing is saved against the key: the same
                # call may be sent again. https://docs.stripe.com/rate-limits
                _record_request_id(span, error.request_id)
                throttled = _throttled(error)
                STRIPE_RATE_LIMITED.labels(endpoint=operation, reason=throttled.reason).inc()
                raise throttled from error
            except _UNDECIDED_ERRORS as error:
                _record_request_id(span, error.request_id)
                message = f"{type(error).__name__}: {error.user_message}"
                if (error.http_status or 0) >= 500:
                    raise GatewayServerError(message) from error
                raise GatewayUnavailable(message) from error
            except stripe.StripeError as error:
                # InvalidRequestError, IdempotencyError: the request itself is wrong.
                _record_request_id(span, error.request_id)
                raise GatewayRejected(error.code or type(error).__name__, str(error)) from error

    def _intent_call(
        self, operation: str, payment_id: str, call: Callable[[], stripe.PaymentIntent]
    ) -> IntentResult:
        with self._call(operation, **{"payment.id": payment_id}) as span:
            intent = call()
            request_id = intent.last_response.request_id if intent.last_response else ""
            _record_request_id(span, request_id)
            span.set_attribute("stripe.payment_intent.status", intent.status)
            return intent_result(intent, request_id or "")

    def create_intent(self, request: CreateIntent) -> IntentResult:
        params: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "payment_method": request.payment_method,
            "metadata": request.metadata,
            # https://docs.stripe.com/api/payment_intents/create#create_payment_intent-confirm
            "confirm": request.confirm,
        }
        if request.description:
            params["description"] = request.description
        return self._intent_call(
            "payment_intents.create",
            request.metadata.get("payment_id", ""),
            lambda: self._client.v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": request.idempotency_key},
            ),
        )

    def confirm_intent(
        self, intent_id: str, *, idempotency_key: str, payment_id: str
    ) -> IntentResult:
        return self._intent_call(
            "payment_intents.confirm",
            payment_id,
            lambda: self._client.v1.payment_intents.confirm(
                intent_id, options={"idempotency_key": idempotency_key}
            ),
        )

    def retrieve_intent(self, intent_id: str) -> IntentResult:
        return self._intent_call(
            "payment_intents.retrieve",
            "",
            lambda: self._client.v1.payment_intents.retrieve(intent_id),
        )

    def cancel_intent(
        self, intent_id: str, *, idempotency_key: str, payment_id: str
    ) -> IntentResult:
        return self._intent_call(
            "payment_intents.cancel",
            payment_id,
            lambda: self._client.v1.payment_intents.cancel(
                intent_id, options={"idempotency_key": idempotency_key}
            ),
        )

    def find_intent_by_payment_id(self, payment_id: str) -> IntentResult | None:
        with self._call("payment_intents.search", **{"payment.id": payment_id}):
            found = self._client.v1.payment_intents.search(
                params={"query": f"metadata['payment_id']:'{payment_id}'", "limit": 1}
            )
            return intent_result(found.data[0]) if found.data else None

    def create_refund(self, request: CreateRefund) -> RefundResult:
        params: dict[str, Any] = {
            "payment_intent": request.payment_intent_id,
            "amount": request.amount,
            "metadata": request.metadata,
        }
        if request.reason:
            params["reason"] = request.reason
        with self._call("refunds.create", **{"refund.id": request.metadata.get("refund_id", "")}):
            refund = self._client.v1.refunds.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": request.idempotency_key},
            )
            return refund_result(refund)

    def retrieve_refund(self, refund_id: str) -> RefundResult:
        with self._call("refunds.retrieve", **{"refund.stripe_id": refund_id}):
            return refund_result(self._client.v1.refunds.retrieve(refund_id))

    def refunds_of_intent(self, payment_intent_id: str) -> list[RefundResult]:
        # Listing by intent is consistent (Stripe's Search API may lag by a minute), and a
        # payment has few refunds: one page of 100 holds them.
        with self._call("refunds.list"):
            page = self._client.v1.refunds.list(
                params={"payment_intent": payment_intent_id, "limit": LIST_PAGE_SIZE}
            )
        return [refund_result(refund) for refund in page.data]

    def intents_page(
        self, *, created_since: int | None = None, starting_after: str | None = None
    ) -> Page[IntentResult]:
        """One page of the intents created since then, newest first."""
        page = self._page(
            "payment_intents.list",
            self._client.v1.payment_intents.list,
            created_since,
            starting_after,
        )
        return Page([intent_result(intent) for intent in page.data], _next_cursor(page))

    def refunds_page(
        self, *, created_since: int | None = None, starting_after: str | None = None
    ) -> Page[RefundResult]:
        page = self._page(
            "refunds.list", self._client.v1.refunds.list, created_since, starting_after
        )
        return Page([refund_result(refund) for refund in page.data], _next_cursor(page))

    def parse_event(self, body: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        return webhooks.parse_event(
            body, headers, self._webhook_secrets, self._webhook_tolerance_seconds
        )

    def read_stored_event(self, payload: dict[str, Any]) -> GatewayEvent:
        return webhooks.read_event(payload)

    def _page(
        self,
        operation: str,
        list_call: Callable[..., Any],
        created_since: int | None,
        starting_after: str | None,
    ) -> Any:
        # Pages by hand rather than auto_paging_iter: each request gets its own span and
        # its errors are translated like every other call, and a caller can stop and
        # resume at a cursor (reconciliation runs in chunks).
        params: dict[str, Any] = {"limit": LIST_PAGE_SIZE}
        if created_since is not None:
            params["created"] = {"gte": created_since}
        if starting_after:
            params["starting_after"] = starting_after
        with self._call(operation):
            return list_call(params=params)


def _next_cursor(page: Any) -> str | None:
    return str(page.data[-1].id) if page.has_more and page.data else None


# Stripe-Rate-Limited-Reason values (https://docs.stripe.com/rate-limits) in our words.
_THROTTLE_REASONS = {
    "global-rate": ThrottleReason.GLOBAL_RATE,
    "endpoint-rate": ThrottleReason.ENDPOINT_RATE,
    "global-concurrency": ThrottleReason.GLOBAL_CONCURRENCY,
    "endpoint-concurrency": ThrottleReason.GLOBAL_CONCURRENCY,
    "lock-timeout": ThrottleReason.LOCK_TIMEOUT,
}
# Without Retry-After: a lock clears in moments, a rate limit in about a second.
_LOCK_WAIT_SECONDS = 0.25
_RATE_WAIT_SECONDS = 1.0


def _throttled(error: stripe.RateLimitError) -> GatewayThrottled:
    headers = {str(name).lower(): str(value) for name, value in (error.headers or {}).items()}
    body = error.json_body if isinstance(error.json_body, dict) else {}
    details = body.get("error") if isinstance(body.get("error"), dict) else {}
    # RateLimitError leaves .code unset; the body has it.
    if (details or {}).get("code") == "lock_timeout":
        reason = ThrottleReason.LOCK_TIMEOUT
    else:
        named = str(headers.get("stripe-rate-limited-reason") or "")
        reason = _THROTTLE_REASONS.get(named, ThrottleReason.OTHER)
    try:
        wait = float(headers.get("retry-after") or 0)
    except ValueError:
        wait = 0.0
    default = _LOCK_WAIT_SECONDS if reason == ThrottleReason.LOCK_TIMEOUT else _RATE_WAIT_SECONDS
    return GatewayThrottled(
        f"RateLimitError ({reason}): {error.user_message}",
        wait_seconds=wait or default,
        reason=reason,
        sent=True,
        should_retry=str(headers.get("stripe-should-retry") or "") == "true",
    )


def _record_request_id(span: trace.Span, request_id: str | None) -> None:
    if request_id:
        span.set_attribute("stripe.request_id", request_id)
