"""Stripe-shaped API errors: https://docs.stripe.com/api/errors."""

from typing import Any

JsonObject = dict[str, Any]

DOC_URL = "https://stripe.com/docs/error-codes/{}"


class StripeError(Exception):
    """An error answered as `{"error": {...}}` with Stripe's status code.

    `executed` marks errors raised after the endpoint started changing state (a card
    decline): Stripe stores those against the idempotency key and replays them, while a
    request that failed validation is not stored.
    """

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: JsonObject | None = None,
        executed: bool = False,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.executed = executed
        self.headers = headers

    def body(self) -> JsonObject:
        error: JsonObject = {}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = DOC_URL.format(self.code.replace("_", "-"))
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        error["message"] = self.message
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        error["type"] = self.error_type
        return {"error": error}


def invalid_request(
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    status: int = 400,
    extra: JsonObject | None = None,
) -> StripeError:
    return StripeError(
        status, "invalid_request_error", message, code=code, param=param, extra=extra
    )


def parameter_unknown(name: str) -> StripeError:
    return invalid_request(
        f"Received unknown parameter: {name}", param=name, code="parameter_unknown"
    )


def parameter_missing(name: str) -> StripeError:
    return invalid_request(f"Missing required param: {name}.", param=name, code="parameter_missing")


def invalid_integer(name: str, raw: str) -> StripeError:
    return invalid_request(f"Invalid integer: {raw}", param=name, code="parameter_invalid_integer")


def integer_too_small(name: str, minimum: int) -> StripeError:
    return invalid_request(
        f"This value must be greater than or equal to {minimum}.",
        param=name,
        code="parameter_invalid_integer",
    )


def invalid_enum(name: str, allowed: tuple[str, ...]) -> StripeError:
    choices = ", ".join(allowed[:-1]) + f", or {allowed[-1]}" if len(allowed) > 1 else allowed[0]
    return invalid_request(f"Invalid {name}: must be one of {choices}", param=name)


def resource_missing(label: str, object_id: str, *, param: str, status: int = 400) -> StripeError:
    """`No such payment_intent: 'pi_x'`: 404 for the URL's object, 400 for a parameter."""
    return invalid_request(
        f"No such {label}: '{object_id}'", param=param, code="resource_missing", status=status
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    return invalid_request(
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
        status=404,
    )


def unexpected_state(message: str, intent: JsonObject | None = None) -> StripeError:
    extra = {"payment_intent": intent} if intent is not None else None
    return invalid_request(message, code="payment_intent_unexpected_state", extra=extra)


def missing_api_key() -> StripeError:
    return invalid_request(
        "You did not provide an API key. You need to provide your API key in the "
        "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
        "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
        "or we can help at https://support.stripe.com/.",
        status=401,
    )


def invalid_api_key(api_key: str) -> StripeError:
    masked = api_key[:8] + "*" * max(len(api_key) - 12, 0) + api_key[-4:]
    return invalid_request(
        f"Invalid API Key provided: {masked}", code="api_key_invalid", status=401
    )


def rate_limited(retry_after_seconds: int) -> StripeError:
    """https://docs.stripe.com/rate-limits: 429 with code `rate_limit`."""
    return StripeError(
        429,
        "invalid_request_error",
        "Request rate limit exceeded. Learn more about rate limits here "
        "https://stripe.com/docs/rate-limits.",
        code="rate_limit",
        headers=(("Retry-After", str(retry_after_seconds)),),
    )


def api_error(*, should_retry: bool = True) -> StripeError:
    """Stripe's 500. `Stripe-Should-Retry: false` marks one saved against the idempotency key.

    stripe-python's retry logic (`_should_retry`) expects that header to be false "in most
    cases when a 500 is returned, since our idempotency framework would typically replay it
    anyway": a retry with the same key gets the same 500 back.
    """
    return StripeError(
        500,
        "api_error",
        "Sorry, something went wrong. We've already been notified of the problem, but if "
        "you need any help, you can reach out to support: https://support.stripe.com/",
        headers=(("Stripe-Should-Retry", "true" if should_retry else "false"),),
    )
