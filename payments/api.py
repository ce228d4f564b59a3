"""REST endpoints: parse input, call one service, shape the output."""

from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from payments import authentication, idempotency, selectors, services
from payments.api_schema import (
    IDEMPOTENCY_KEY_PARAMETER,
    SIGNATURE_PARAMETER,
    STATUS_PARAMETER,
    problems,
)
from payments.gateways import get_gateway
from payments.models import ApiClient, Payment, PaymentStatus
from payments.pagination import PaymentCursorPagination
from payments.serializers import (
    PaymentCreateSerializer,
    PaymentSerializer,
    RefundCreateSerializer,
    RefundSerializer,
)


def idempotent_post(
    request: Request, perform: Callable[[ApiClient, str, str], idempotency.StoredResponse]
) -> HttpResponse:
    """Run a POST once per (client, Idempotency-Key), or answer with what it answered before.

    `perform(client, key, fingerprint)` does the work in the transaction that stores its
    response; validate the body before calling this, so a bad request never uses the key.
    """
    client: ApiClient = request.user  # type: ignore[assignment]
    key = idempotency.validated_key(request.headers.get("Idempotency-Key"))
    fingerprint = idempotency.fingerprint(request.method or "POST", request.path, request.data)
    stored = idempotency.run_once(
        client, key, fingerprint, lambda: perform(client, key, fingerprint)
    )
    response = HttpResponse(stored.body, status=stored.status, content_type="application/json")
    if stored.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def render_json(data: Any) -> bytes:
    rendered: bytes = JSONRenderer().render(data)
    return rendered


def accepted(data: Any, *, replayed: bool = False) -> idempotency.StoredResponse:
    return idempotency.StoredResponse(202, render_json(data), replayed=replayed)


@extend_schema_view(
    get=extend_schema(
        parameters=[STATUS_PARAMETER],
        responses={200: PaymentSerializer(many=True), **problems(400, 401, 429)},
        summary="The client's payments, newest first (cursor-paginated)",
    )
)
class PaymentListCreateView(ListAPIView[Payment]):
    serializer_class = PaymentSerializer
    pagination_class = PaymentCursorPagination

    def get_queryset(self) -> Any:
        status = self.request.query_params.get("status") or None
        if status is not None and status not in PaymentStatus.values:
            raise ValidationError({"status": [f"one of {', '.join(PaymentStatus.values)}"]})
        client: ApiClient = self.request.user  # type: ignore[assignment]
        return selectors.payments_of_client(client, status=status)

    @extend_schema(
        request=PaymentCreateSerializer,
        responses={
            202: PaymentSerializer,
            **problems(400, 401, 403, 409, 413, 415, 422, 429, 503),
        },
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        summary="Accept a payment; it is charged asynchronously",
    )
    def post(self, request: Request) -> HttpResponse:
        idempotency.validated_key(request.headers.get("Idempotency-Key"))
        serializer = PaymentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payment_request = services.PaymentRequest(**serializer.validated_data)

        def accept(client: ApiClient, key: str, fingerprint: str) -> idempotency.StoredResponse:
            earlier = selectors.payment_by_idempotency_key(client, key)
            if earlier is not None:
                # Accepted under this key before its idempotency record expired: the
                # payment itself answers, as a replay.
                idempotency.refuse_other_body(earlier.request_fingerprint, fingerprint)
                return accepted(PaymentSerializer(earlier).data, replayed=True)
            payment = services.accept_payment(
                client=client,
                idempotency_key=key,
                request_fingerprint=fingerprint,
                request=payment_request,
            )
            return accepted(PaymentSerializer(payment).data)

        return idempotent_post(request, accept)


@extend_schema_view(
    get=extend_schema(responses={200: PaymentSerializer, **problems(401, 404, 429)})
)
class PaymentDetailView(RetrieveAPIView[Payment]):
    serializer_class = PaymentSerializer

    def get_object(self) -> Payment:
        client: ApiClient = self.request.user  # type: ignore[assignment]
        return selectors.payment_of_client(client, self.kwargs["payment_id"])


class RefundCreateView(APIView):
    required_capability = authentication.REFUND

    @extend_schema(
        request=RefundCreateSerializer,
        responses={
            202: RefundSerializer,
            **problems(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
        },
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        summary="Refund a payment (all that is left unless `amount` says less)",
    )
    def post(self, request: Request, payment_id: str) -> HttpResponse:
        client: ApiClient = request.user  # type: ignore[assignment]
        idempotency.validated_key(request.headers.get("Idempotency-Key"))
        payment = selectors.payment_of_client(client, payment_id)
        serializer = RefundCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def refund(client: ApiClient, key: str, fingerprint: str) -> idempotency.StoredResponse:
            earlier = selectors.refund_by_idempotency_key(payment, key)
            if earlier is not None:
                # Requested under this key before its idempotency record expired.
                idempotency.refuse_other_body(earlier.request_fingerprint, fingerprint)
                return accepted(RefundSerializer(earlier).data, replayed=True)
            created = services.request_refund(
                payment_id=payment.pk,
                amount=serializer.validated_data.get("amount"),
                reason=serializer.validated_data["reason"],
                idempotency_key=key,
                request_fingerprint=fingerprint,
                requested_by=f"api:{client.name}",
            )
            return accepted(RefundSerializer(created).data)

        return idempotent_post(request, refund)


class StripeWebhookView(APIView):
    """The gateway's signature is the authentication; APIView views are CSRF-exempt."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        request={"application/json": {"type": "object"}},
        responses={200: {"type": "object"}, **problems(400, 413, 503)},
        parameters=[SIGNATURE_PARAMETER],
        auth=[],
        summary="Stripe webhook endpoint (the signature is the authentication)",
    )
    def post(self, request: Request) -> Response:
        # The raw bytes, untouched by any parser: the signature covers exactly them.
        services.receive_event(get_gateway(), request.body, request.headers)
        return Response({"received": True})
