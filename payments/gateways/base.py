"""The payment gateway interface: a Protocol with frozen dataclasses in and out."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from payments.exceptions import RetryableError, TerminalError


@dataclass(frozen=True)
class CreateIntent:
    amount: int
    currency: str
    payment_method: str
    idempotency_key: str
    metadata: dict[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class IntentResult:
    intent_id: str
    # Stripe's PaymentIntent status: requires_confirmation, requires_action, processing,
    # succeeded, requires_payment_method, canceled, ...
    status: str
    amount: int
    currency: str
    failure_code: str = ""
    failure_message: str = ""
    request_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    # Unix time Stripe created the PaymentIntent (0 when unknown).
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
    # Stripe's Refund status: pending, requires_action, succeeded, failed, canceled.
    status: str
    amount: int
    currency: str
    metadata: dict[str, str] = field(default_factory=dict)
    failure_reason: str = ""
    created: int = 0


class GatewayError(Exception):
    """Root of the errors a gateway raises."""


class GatewayUnavailable(GatewayError, RetryableError):
    """The provider did not decide (5xx, 429, timeout, key in use): retry with the same key."""


class GatewayRejected(GatewayError, TerminalError):
    """The provider refused the request itself (bad parameters); retrying cannot help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class CardDeclined(GatewayError, TerminalError):
    """The card was declined; `intent` is the PaymentIntent as the provider left it."""

    def __init__(self, decline_code: str, message: str, intent_id: str) -> None:
        super().__init__(f"{decline_code}: {message}")
        self.decline_code = decline_code
        self.message = message
        self.intent_id = intent_id


class PaymentGateway(Protocol):
    def create_intent(self, request: CreateIntent) -> IntentResult: ...

    def confirm_intent(self, intent_id: str, *, idempotency_key: str) -> IntentResult: ...

    def retrieve_intent(self, intent_id: str) -> IntentResult: ...

    def find_intent_by_payment_id(self, payment_id: str) -> IntentResult | None: ...

    def create_refund(self, request: CreateRefund) -> RefundResult: ...

    def list_intents(self, *, created_since: int | None = None) -> Iterator[IntentResult]: ...

    def list_refunds(self, *, created_since: int | None = None) -> Iterator[RefundResult]: ...
