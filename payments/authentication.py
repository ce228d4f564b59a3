"""Bearer API-key authentication, its rate limits, and what a restricted key may do."""

from typing import Any

from django.conf import settings
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, Throttled
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from config.metrics import API_AUTH_FAILURES, API_RATE_LIMITED
from payments import rate_limits, services
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


class KeyScopeInsufficient(PermissionDenied):
    default_code = "key_scope_insufficient"


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <api key>`, looked up by its keyed hash.

    Stripe-like limits: an address that failed too often gets 429 for anything carrying
    credentials until its window ends (before the key is even looked up), and each key
    may make API_RATE_LIMIT_REQUESTS requests per window.
    """

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[ApiClient, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        address = rate_limits.client_address(request._request)
        _refuse_if_address_blocked(address)
        if len(parts) != 2:
            _count_failure(address, "malformed")
            raise AuthenticationFailed("Authorization must be 'Bearer <api key>'")
        checked = services.check_api_key(parts[1].decode("latin-1"))
        if checked.key is None:
            _count_failure(address, checked.reason)
            raise AuthenticationFailed(checked.message)
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


def _refuse_if_address_blocked(address: str) -> None:
    verdict = rate_limits.peek(
        f"auth-failures:{address}",
        limit=settings.AUTH_FAILURE_LIMIT,
        window_seconds=settings.AUTH_FAILURE_WINDOW_SECONDS,
    )
    if not verdict.allowed:
        API_RATE_LIMITED.labels(limit="auth_failures").inc()
        raise TooManyRequests(
            verdict.retry_after_seconds, "too many failed authentications from this address"
        )


def _count_failure(address: str, reason: str) -> None:
    API_AUTH_FAILURES.labels(reason=reason).inc()
    rate_limits.hit(
        f"auth-failures:{address}",
        limit=settings.AUTH_FAILURE_LIMIT,
        window_seconds=settings.AUTH_FAILURE_WINDOW_SECONDS,
    )


def _count_request(key: ApiKey) -> None:
    verdict = rate_limits.hit(
        f"api-key:{key.pk}",
        limit=settings.API_RATE_LIMIT_REQUESTS,
        window_seconds=settings.API_RATE_LIMIT_WINDOW_SECONDS,
    )
    if not verdict.allowed:
        API_RATE_LIMITED.labels(limit="api_key").inc()
        raise TooManyRequests(verdict.retry_after_seconds, "too many requests for this API key")
