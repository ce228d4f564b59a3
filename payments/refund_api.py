"""REST endpoints for refunds and Stripe's webhooks: parse input, call one service, shape output."""

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from payments import idempotency, refunds, selectors, webhooks
from payments.api import IDEMPOTENCY_KEY_PARAMETER, stored_response
from payments.currencies import MAX_AMOUNT
from payments.models import ApiClient, Refund
from payments.serializers import RejectUnknownFieldsMixin, StrictIntegerField


class RefundCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer[Any]):
    # Left out: everything not refunded yet.
    amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, required=False)
    reason = serializers.ChoiceField(choices=refunds.REFUND_REASONS, required=False, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        self.validate_unknown_fields()
        return attrs


class RefundSerializer(serializers.ModelSerializer[Refund]):
    payment = serializers.UUIDField(source="payment_id", read_only=True)

    class Meta:
        model = Refund
        fields = (
            "id",
            "payment",
            "amount",
            "reason",
            "status",
            "failure_reason",
            "stripe_refund_id",
            "trace_id",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class RefundCreateView(APIView):
    @extend_schema(
        request=RefundCreateSerializer,
        responses={202: RefundSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        summary="Refund a payment (all that is left unless `amount` says less)",
    )
    def post(self, request: Request, payment_id: str) -> HttpResponse:
        client: ApiClient = request.user  # type: ignore[assignment]
        key = idempotency.validated_key(request.headers.get("Idempotency-Key"))
        payment = selectors.payment_of_client(client, payment_id)
        serializer = RefundCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fingerprint = idempotency.fingerprint(request.method or "POST", request.path, request.data)

        def refund() -> tuple[int, bytes]:
            created = refunds.request_refund(
                payment_id=payment.pk,
                amount=serializer.validated_data.get("amount"),
                reason=serializer.validated_data["reason"],
                idempotency_key=key,
                requested_by=f"api:{client.name}",
            )
            return 202, JSONRenderer().render(RefundSerializer(created).data)

        return stored_response(idempotency.run_once(client, key, fingerprint, refund))


class StripeWebhookView(APIView):
    """Stripe's signature is the authentication; APIView views are CSRF-exempt."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(request=None, responses={200: None}, summary="Stripe webhook endpoint")
    def post(self, request: Request) -> Response:
        # The raw bytes, untouched by any parser: the signature covers exactly them.
        webhooks.receive_event(request.body, request.headers.get("Stripe-Signature"))
        return Response({"received": True})
