"""What the OpenAPI schema says beyond the views: the bearer scheme, every status code
the API answers with its problem body, and the query parameters' bounds."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from payments.gateways.stripe import webhooks as stripe_webhooks
from payments.models import PaymentStatus


class BearerApiKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "payments.authentication.ApiKeyAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (psk_… full, prk_… restricted) from manage.py api_key.",
        }


class FieldErrorSerializer(serializers.Serializer[Any]):
    field = serializers.CharField()
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer[Any]):
    """RFC 9457 problem details, with a `code` to switch on."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    code = serializers.CharField()
    detail = serializers.CharField()
    errors = FieldErrorSerializer(many=True, required=False)  # type: ignore[assignment]  # the problem's field, not DRF's .errors


def _problem(description: str) -> OpenApiResponse:
    return OpenApiResponse(ProblemSerializer, description=description)


PROBLEMS = {
    400: _problem("Invalid input; `errors` names each field"),
    401: _problem("No key, or an unknown, expired or revoked one"),
    403: _problem("The key's scope does not allow this"),
    404: _problem("No such payment for this client"),
    409: _problem("The Idempotency-Key is still in flight, or the payment is not refundable"),
    413: _problem("The body is larger than MAX_REQUEST_BODY_BYTES"),
    415: _problem("The body is not application/json"),
    422: _problem("The Idempotency-Key was used with another body, or the refund is too large"),
    429: _problem(
        "Over this key's request limit, or a bad key from an address past its failed-"
        "authentication limit (a valid key is never refused for that); see Retry-After"
    ),
    503: _problem("The database is unavailable; nothing was stored, retry"),
}


PROBLEM_MEDIA_TYPE = "application/problem+json"


def problems(*codes: int) -> dict[tuple[int, str], OpenApiResponse]:
    return {(code, PROBLEM_MEDIA_TYPE): PROBLEMS[code] for code in codes}


STATUS_PARAMETER = OpenApiParameter(
    "status",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    enum=PaymentStatus.values,
    description="Only payments in this status.",
)
IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    pattern=r"^[\x21-\x7e]{1,255}$",
    description="1-255 printable ASCII characters; a retry with the same key never charges twice.",
)
SIGNATURE_PARAMETER = OpenApiParameter(
    stripe_webhooks.SIGNATURE_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="`t=<unix time>,v1=<HMAC-SHA256 hex>`, as the gateway signs its webhooks.",
)


def forbid_unknown_request_fields(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: request bodies refuse fields they do not name."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("CreateRequest"):
            component["additionalProperties"] = False
    return result
