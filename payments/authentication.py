"""Bearer API-key authentication, its rate limits, and what a restricted key may do."""

from typing import Any, NoReturn

from django.conf import settings
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, Throttled
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from config.metrics import API_AUTH_FAILURES, API_RATE_LIMITED
from payments import issued_keys, rate_limits, services
from payments.client_address import client_address
from payments.models import ApiClient, ApiKey, ApiKeyScope

# What each scope may do; a view names the capability it needs in `required_capability`.
READ = "read"
CREATE_PAYMENTS = "create_payments"
REFUND = "refund"
_CAPABILITIES = {
    ApiKeyScope.FULL: frozenset({READ, CREATE_PAYMENTS, REFUND}),
    ApiKeyScope.PAYMENTS: frozenset({READ, CREATE_PAYMENTS}),
    ApiKeyScope.READ_ONLY: frozenset({READ}),
}


class TooManyRequests(Throttled):
    default_code = "rate_limited"
    # DRF appends "Expected available in N seconds." to the detail; this reads better
    # after our own sentence.
    extra_detail_singular = "Try again in {wait} second."
    extra_detail_plural = "Try again in {wait} seconds."


class KeyScopeInsufficient(PermissionDenied):
    default_code = "key_scope_insufficient"


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <api key>`, looked up by its keyed hash.

    Stripe-like limits: an address past AUTH_FAILURE_LIMIT failed authentications gets
    429 for each further failure until its window ends, while a valid key from it is
    served as usual (the limit slows guessing; it never locks a client out). Each key
    may make API_RATE_LIMIT_REQUESTS requests per window, or its client's request_limit.
    """

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[ApiClient, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        address = client_address(request._request)
        failures = rate_limits.peek(
            _failures_bucket(address),
            limit=settings.AUTH_FAILURE_LIMIT,
            window_seconds=settings.AUTH_FAILURE_WINDOW_SECONDS,
        )
        if len(parts) != 2:
            _refuse(address, failures, "malformed", "Authorization must be 'Bearer <api key>'")
        raw_key = parts[1].decode("latin-1")
        if not failures.allowed and not issued_keys.may_be_valid(raw_key):
            # Never issued: refused from Redis alone, so guessing from a blocked address
            # costs the database nothing.
            _refuse(address, failures, "unknown", "unknown API key")
        checked = services.check_api_key(raw_key)
        if checked.key is None:
            _refuse(address, failures, checked.reason, checked.message)
        _count_request(checked.key)
        return checked.key.client, checked.key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with this challenge) instead of 403.
        return 'Bearer realm="payments"'


class KeyScopePermission(BasePermission):
    """A restricted key may read, or create payments, but not do more than its scope."""

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True  # not an API-key request (the webhook): nothing to restrict
        needed = getattr(view, "required_capability", None) or (
            READ if request.method in SAFE_METHODS else CREATE_PAYMENTS
        )
        if needed not in _CAPABILITIES[ApiKeyScope(key.scope)]:
            raise KeyScopeInsufficient(
                f"this key is restricted ({key.get_scope_display()}); it cannot {needed}"
            )
        return True


def _failures_bucket(address: str) -> str:
    return f"auth-failures:{address}"


def _refuse(address: str, failures: rate_limits.Verdict, reason: str, message: str) -> NoReturn:
    """Count a failed authentication; 401, or 429 once the address is past its limit."""
    API_AUTH_FAILURES.labels(reason=reason).inc()
    rate_limits.hit(
        _failures_bucket(address),
        limit=settings.AUTH_FAILURE_LIMIT,
        window_seconds=settings.AUTH_FAILURE_WINDOW_SECONDS,
    )
    if not failures.allowed:
        API_RATE_LIMITED.labels(limit="auth_failures").inc()
        raise TooManyRequests(
            failures.retry_after_seconds, "Too many failed authentications from this address."
        )
    raise AuthenticationFailed(message)


def _count_request(key: ApiKey) -> None:
    limit = key.client.request_limit or settings.API_RATE_LIMIT_REQUESTS
    window = settings.API_RATE_LIMIT_WINDOW_SECONDS
    verdict = rate_limits.hit(f"api-key:{key.pk}", limit=limit, window_seconds=window)
    if not verdict.allowed:
        API_RATE_LIMITED.labels(limit="api_key").inc()
        raise TooManyRequests(
            verdict.retry_after_seconds,
            f"Too many requests for this API key (its limit is {limit} per {window} s).",
        )
