"""One DRF exception handler: every error is an RFC 9457 application/problem+json body."""

import logging
from typing import Any

from django.db import DatabaseError, DataError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from payments import exceptions as domain

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# Domain error → (HTTP status, short code clients can switch on).
_DOMAIN_ERRORS: list[tuple[type[domain.PaymentError], int, str]] = [
    (domain.IdempotencyKeyMissing, status.HTTP_400_BAD_REQUEST, "idempotency_key_missing"),
    (domain.IdempotencyKeyInvalid, status.HTTP_400_BAD_REQUEST, "idempotency_key_invalid"),
    (domain.IdempotencyKeyReused, status.HTTP_422_UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
    (domain.IdempotencyKeyInFlight, status.HTTP_409_CONFLICT, "idempotency_key_in_flight"),
    (domain.PaymentNotFound, status.HTTP_404_NOT_FOUND, "not_found"),
    (domain.InvalidTransition, status.HTTP_409_CONFLICT, "invalid_transition"),
    (domain.PaymentNotRefundable, status.HTTP_409_CONFLICT, "payment_not_refundable"),
    (domain.RefundAmountTooLarge, status.HTTP_422_UNPROCESSABLE_ENTITY, "refund_amount_too_large"),
    (domain.WebhookSignatureInvalid, status.HTTP_400_BAD_REQUEST, "webhook_signature_invalid"),
    (domain.WebhookPayloadInvalid, status.HTTP_400_BAD_REQUEST, "webhook_payload_invalid"),
]
RETRY_AFTER_IN_FLIGHT_SECONDS = 1
RETRY_AFTER_DATABASE_SECONDS = 5


def problem(http_status: int, code: str, detail: str, **extra: Any) -> Response:
    body = {
        "type": "about:blank",
        "title": status_title(http_status),
        "status": http_status,
        "code": code,
        "detail": detail,
        **extra,
    }
    return Response(body, status=http_status, content_type=PROBLEM_CONTENT_TYPE)


def status_title(http_status: int) -> str:
    from http import HTTPStatus

    return HTTPStatus(http_status).phrase


def _field_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """Flatten DRF's nested error detail into [{"field": "metadata.order", "message": ...}]."""
    if isinstance(detail, dict):
        return [
            error
            for name, value in detail.items()
            for error in _field_errors(value, f"{prefix}.{name}" if prefix else str(name))
        ]
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [{"field": prefix or "body", "message": str(item)} for item in detail]
        return [e for i, item in enumerate(detail) for e in _field_errors(item, f"{prefix}[{i}]")]
    return [{"field": prefix or "body", "message": str(detail)}]


def problem_exception_handler(error: Exception, context: dict[str, Any]) -> Response | None:
    for error_type, http_status, code in _DOMAIN_ERRORS:
        if isinstance(error, error_type):
            extra = (
                {"errors": [{"field": error.field, "message": str(error)}]}
                if isinstance(error, domain.FieldError)
                else {}
            )
            response = problem(http_status, code, str(error), **extra)
            if isinstance(error, domain.IdempotencyKeyInFlight):
                response["Retry-After"] = str(RETRY_AFTER_IN_FLIGHT_SECONDS)
            return response
    if isinstance(error, exceptions.ValidationError):
        errors = _field_errors(error.detail)
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem(400, "invalid_request", f"invalid fields: {fields}", errors=errors)
    if isinstance(error, Http404):
        return problem(404, "not_found", "not found")
    if isinstance(error, exceptions.APIException):
        response = problem(error.status_code, str(error.default_code), str(error.detail))
        if isinstance(error, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response["WWW-Authenticate"] = 'Bearer realm="payments"'
        if getattr(error, "wait", None):
            response["Retry-After"] = str(int(error.wait))  # type: ignore[attr-defined]
        return response
    if isinstance(error, DataError):
        # The database refused a value: input validation missed a rule the column has.
        # Nothing was stored, and retrying the same body cannot help, so this is a 400.
        logger.error("the database refused a value the API accepted in %s", context.get("view"))
        return problem(400, "invalid_request", "a value is not acceptable (too long or bad text)")
    if isinstance(error, DatabaseError):
        # Nothing was accepted (the transaction rolled back): the client may retry safely.
        logger.exception("database unavailable while serving %s", context.get("view"))
        response = problem(503, "service_unavailable", "temporarily unavailable; retry later")
        response["Retry-After"] = str(RETRY_AFTER_DATABASE_SECONDS)
        return response
    return None
