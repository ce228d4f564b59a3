"""Bearer API-key authentication for the REST API."""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from payments import selectors
from payments.models import ApiClient


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <api key>`; the key is looked up by its SHA-256."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[ApiClient, None] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Authorization must be 'Bearer <api key>'")
        client = selectors.active_client_by_key(parts[1].decode("latin-1"))
        if client is None:
            raise AuthenticationFailed("unknown or revoked API key")
        return client, None

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with this challenge) instead of 403.
        return 'Bearer realm="payments"'
