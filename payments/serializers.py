"""API input validation and output shapes: payments and refunds."""

import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from payments import json_input
from payments.currencies import MAX_AMOUNT, format_amount, minimum_amount, normalized_code
from payments.models import Payment, Refund
from payments.services.refunds import REFUND_REASONS

# Stripe's metadata limits: https://docs.stripe.com/metadata#data
METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500
_PAYMENT_METHOD = re.compile(r"^pm_[A-Za-z0-9_]{1,250}$")


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: "100", 100.0 and true are refused, not coerced."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class StrictCharField(serializers.CharField):
    """A JSON string only: numbers and booleans are refused, not turned into text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": METADATA_MAX_KEYS,
        "additionalProperties": {"type": "string", "maxLength": METADATA_MAX_VALUE_LENGTH},
        "description": f"Up to {METADATA_MAX_KEYS} keys of 1-{METADATA_MAX_KEY_LENGTH} "
        "characters without brackets (Stripe's limits).",
    }
)
class MetadataField(serializers.DictField):
    pass


class RejectUnknownFieldsMixin:
    """A misspelt field is an error, not something silently ignored."""

    initial_data: Any
    fields: Any

    def validate_unknown_fields(self) -> None:
        if not isinstance(self.initial_data, dict):
            return
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["unknown field"] for name in unknown})


class PaymentCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer[Any]):
    amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT)
    # Known codes only (ISO 4217), either case; the pattern is what a schema can say.
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", min_length=3, max_length=3)
    payment_method = serializers.RegexField(_PAYMENT_METHOD.pattern, max_length=255)
    # The column's length (RFC 5321's 254): longer is a 400 here, not a database error.
    customer_email = serializers.EmailField(
        required=False, allow_blank=True, default="", max_length=254
    )
    description = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=1000
    )
    metadata = MetadataField(
        child=StrictCharField(allow_blank=True, max_length=METADATA_MAX_VALUE_LENGTH),
        required=False,
        default=dict,
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        self.validate_unknown_fields()
        least = minimum_amount(attrs["currency"])
        if attrs["amount"] < least:
            raise serializers.ValidationError(
                {"amount": [f"at least {least} ({format_amount(least, attrs['currency'])})"]}
            )
        return attrs

    def validate_currency(self, value: str) -> str:
        code = normalized_code(value)
        if code is None:
            raise serializers.ValidationError(f"{value!r} is not an ISO 4217 currency code")
        return code

    def validate_metadata(self, value: dict[str, str]) -> dict[str, str]:
        if len(value) > METADATA_MAX_KEYS:
            raise serializers.ValidationError(f"at most {METADATA_MAX_KEYS} keys")
        for key in value:
            if not json_input.is_storable_text(key):
                raise serializers.ValidationError("keys must not contain NUL or lone surrogates")
            if not key or len(key) > METADATA_MAX_KEY_LENGTH or "[" in key or "]" in key:
                raise serializers.ValidationError(
                    f"key {key[:50]!r}: 1 to {METADATA_MAX_KEY_LENGTH} characters, no brackets"
                )
        return value


class PaymentSerializer(serializers.ModelSerializer[Payment]):
    class Meta:
        model = Payment
        fields = (
            "id",
            "status",
            "amount",
            "amount_refunded",
            "currency",
            "payment_method",
            "description",
            "metadata",
            "failure_code",
            "failure_message",
            "stripe_payment_intent_id",
            "trace_id",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class RefundCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer[Any]):
    # Left out: everything not refunded yet.
    amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, required=False)
    reason = serializers.ChoiceField(choices=REFUND_REASONS, required=False, default="")

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
