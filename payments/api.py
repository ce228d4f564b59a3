"""REST endpoints for payments: parse input, call one service, shape the output."""

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from payments import idempotency, selectors, services
from payments.models import ApiClient, Payment, PaymentStatus
from payments.serializers import PaymentCreateSerializer, PaymentSerializer

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="1-255 printable ASCII characters; a retry with the same key never charges twice.",
)


class PaymentCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 100


def stored_response(stored: idempotency.StoredResponse) -> HttpResponse:
    response = HttpResponse(stored.body, status=stored.status, content_type="application/json")
    if stored.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


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
        responses={202: PaymentSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        summary="Accept a payment; it is charged asynchronously",
    )
    def post(self, request: Request) -> HttpResponse:
        client: ApiClient = request.user  # type: ignore[assignment]
        key = idempotency.validated_key(request.headers.get("Idempotency-Key"))
        serializer = PaymentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payment_request = services.PaymentRequest(**serializer.validated_data)
        fingerprint = idempotency.fingerprint(request.method or "POST", request.path, request.data)

        def accept() -> tuple[int, bytes]:
            payment = services.accept_payment(
                client=client,
                idempotency_key=key,
                request_fingerprint=fingerprint,
                request=payment_request,
            )
            return 202, JSONRenderer().render(PaymentSerializer(payment).data)

        return stored_response(idempotency.run_once(client, key, fingerprint, accept))


class PaymentDetailView(RetrieveAPIView[Payment]):
    serializer_class = PaymentSerializer

    def get_object(self) -> Payment:
        client: ApiClient = self.request.user  # type: ignore[assignment]
        return selectors.payment_of_client(client, self.kwargs["payment_id"])
