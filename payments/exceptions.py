"""Domain errors of payments: one root, terminal and retryable leaves."""


class PaymentError(Exception):
    """Root of every error the payments app raises on purpose."""


class RetryableError(PaymentError):
    """Try again later with the same idempotency keys; nothing was decided."""


class TerminalError(PaymentError):
    """Trying again cannot help."""


class IdempotencyKeyMissing(TerminalError):
    pass


class IdempotencyKeyInvalid(TerminalError):
    pass


class IdempotencyKeyReused(TerminalError):
    """The key was used before with a different request body."""


class IdempotencyKeyInFlight(RetryableError):
    """The first request with this key has not finished yet."""


class PaymentNotFound(TerminalError):
    pass


class InvalidTransition(TerminalError):
    """The state machine refuses the move (only forward moves exist)."""


class FieldError(TerminalError):
    """A request value the domain refused; `field` names it for the problem's errors[]."""

    field = "body"


class PaymentNotRefundable(TerminalError):
    """Only succeeded or partially refunded payments can be refunded."""


class RefundAmountTooLarge(FieldError):
    """The refund asks for more than the part of the payment not yet refunded or reserved."""

    field = "amount"


class WebhookSignatureInvalid(TerminalError):
    """The webhook signature header is missing, malformed, expired or signed with another secret."""


class WebhookPayloadInvalid(TerminalError):
    """A correctly signed body that is not a Stripe event."""
