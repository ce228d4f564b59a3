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
