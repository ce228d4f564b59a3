"""The payment gateway interface: a Protocol with frozen dataclasses in and out.

Everything here is in the service's own words. A provider's status strings, headers and
event fields stay inside its gateway package (payments/gateways/stripe/), which turns
them into the neutral states and events below.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from payments.exceptions import RetryableError, TerminalError

Item = TypeVar("Item")


class ChargeState(StrEnum):
    """Where a charge stands at the provider."""

    # Created, not confirmed yet: no money has moved.
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    # The provider is still deciding; ask again later.
    IN_PROGRESS = "in_progress"
    # The customer must authenticate (3-D Secure) before the provider decides.
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    # Declined; `failure_code` says why.
    FAILED = "failed"
    CANCELED = "canceled"


class RefundState(StrEnum):
    """Where a refund stands at the provider."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    # Failed or canceled: no money went back.
    FAILED = "failed"


@dataclass(frozen=True)
class CreateIntent:
    amount: int
    currency: str
    payment_method: str
    idempotency_key: str
    metadata: dict[str, str] = field(default_factory=dict)
    description: str = ""
    # Confirm in the same call: the charge is decided (or declined) in one round trip.
    confirm: bool = False


@dataclass(frozen=True)
class IntentResult:
    intent_id: str
    state: ChargeState
    amount: int
    currency: str
    failure_code: str = ""
    failure_message: str = ""
    request_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    # Unix time the provider created the intent (0 when unknown).
    created: int = 0


@dataclass(frozen=True)
class CreateRefund:
    payment_intent_id: str
    amount: int
    idempotency_key: str
    metadata: dict[str, str] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    payment_intent_id: str
    state: RefundState
    amount: int
    currency: str
    metadata: dict[str, str] = field(default_factory=dict)
    failure_reason: str = ""
    created: int = 0


@dataclass(frozen=True)
class Page(Generic[Item]):
    """One page of a listing; `next_cursor` resumes after it, None on the last page."""

    items: list[Item]
    next_cursor: str | None


class EventKind(StrEnum):
    """What a provider's webhook event means for this service."""

    # A charge reached a state worth recording (succeeded, failed, canceled, 3-D Secure).
    CHARGE_UPDATED = "charge_updated"
    # One of our refunds was created, settled or failed.
    REFUND_UPDATED = "refund_updated"
    # The provider's running total of refunds on a charge.
    REFUNDS_TOTALLED = "refunds_totalled"
    # Anything else: stored, not acted on.
    OTHER = "other"


@dataclass(frozen=True)
class GatewayEvent:
    """One webhook event, verified and read; `payload` is the body as the provider sent it."""

    event_id: str
    # The provider's own name for the event, for the inbox and the admin.
    event_type: str
    # Unix time the provider created the event.
    created: int
    # The id of the object the event is about (an intent, a refund, a charge).
    object_id: str
    kind: EventKind
    payload: dict[str, Any]
    # CHARGE_UPDATED: the intent with the state the event reports.
    intent: IntentResult | None = None
    # REFUND_UPDATED: the refund as the event shows it.
    refund: RefundResult | None = None
    # REFUNDS_TOTALLED: which intent, and how much the provider has refunded on it.
    refunded_intent_id: str = ""
    refunded_total: int = 0


class GatewayError(Exception):
    """Root of the errors a gateway raises."""


class GatewayUnavailable(GatewayError, RetryableError):
    """The provider gave no answer to act on (5xx, 429, timeout, key in use): look, then retry."""


class GatewayServerError(GatewayUnavailable):
    """A 5xx: the request may have executed, and its key now replays this error.

    Stripe saves the result of a request that started executing, a 500 included, and
    returns it for every retry with the same key during the key's lifetime; a retry must
    look at the object first and use a new key if it still has to act.
    https://docs.stripe.com/api/idempotent_requests
    """


class ThrottleReason(StrEnum):
    """Which limit held a call back."""

    PACER = "pacer"  # our own fleet-wide budget: nothing was sent
    GLOBAL_RATE = "global_rate"  # the provider's account-wide rate
    ENDPOINT_RATE = "endpoint_rate"
    GLOBAL_CONCURRENCY = "global_concurrency"
    LOCK_TIMEOUT = "lock_timeout"  # another request held the object
    OTHER = "other"


class GatewayThrottled(GatewayError):
    """Held back by a rate limit: nothing executed, nothing was decided, and it is no failure.

    Not a RetryableError on purpose: a task defers itself (config/retries.defer) without
    spending its failure retries. `sent` is False when our own pacer refused before any
    request; True for the provider's 429, which it answers before executing, so the same
    idempotency key may be sent again. `should_retry`: the provider said so itself.
    """

    def __init__(
        self,
        message: str,
        *,
        wait_seconds: float,
        reason: ThrottleReason,
        sent: bool,
        should_retry: bool = False,
    ) -> None:
        super().__init__(message)
        self.wait_seconds = wait_seconds
        self.reason = reason
        self.sent = sent
        self.should_retry = should_retry


class GatewayRejected(GatewayError, TerminalError):
    """The provider refused the request itself (bad parameters); retrying cannot help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class CardDeclined(GatewayError, TerminalError):
    """The card was declined; `intent_id` is the intent the provider left behind."""

    def __init__(self, failure_code: str, message: str, intent_id: str) -> None:
        super().__init__(f"{failure_code}: {message}")
        self.failure_code = failure_code
        self.message = message
        self.intent_id = intent_id


class PaymentGateway(Protocol):
    def create_intent(self, request: CreateIntent) -> IntentResult: ...

    def confirm_intent(
        self, intent_id: str, *, idempotency_key: str, payment_id: str
    ) -> IntentResult: ...

    def retrieve_intent(self, intent_id: str) -> IntentResult: ...

    def cancel_intent(
        self, intent_id: str, *, idempotency_key: str, payment_id: str
    ) -> IntentResult: ...

    def find_intent_by_payment_id(self, payment_id: str) -> IntentResult | None: ...

    def create_refund(self, request: CreateRefund) -> RefundResult: ...

    def retrieve_refund(self, refund_id: str) -> RefundResult: ...

    def refunds_of_intent(self, payment_intent_id: str) -> list[RefundResult]:
        """Every refund of one intent, read consistently (a refund just made is listed)."""
        ...

    def intents_page(
        self, *, created_since: int | None = None, starting_after: str | None = None
    ) -> "Page[IntentResult]": ...

    def refunds_page(
        self, *, created_since: int | None = None, starting_after: str | None = None
    ) -> "Page[RefundResult]": ...

    def parse_event(self, body: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """Verify a webhook delivery and read it; WebhookSignatureInvalid / PayloadInvalid."""
        ...

    def read_stored_event(self, payload: dict[str, Any]) -> GatewayEvent:
        """Read an event kept in the inbox (verified when it arrived)."""
        ...
