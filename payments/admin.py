"""Django admin for payments: searchable, filterable, money and history read-only."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

from config.tracing_ui import trace_link
from config.view_only_admin import ViewOnlyAdmin
from payments import admin_actions, services
from payments.models import (
    ApiClient,
    ApiKey,
    IdempotencyRecord,
    Payment,
    PaymentEvent,
    Refund,
    StripeEvent,
)


class PaymentEventInline(admin.TabularInline[PaymentEvent, Payment]):
    model = PaymentEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "from_status", "to_status", "actor", "reason", "trace")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="trace")
    def trace(self, event: PaymentEvent) -> SafeString | str:
        return trace_link(event.trace_id)


class RefundInline(admin.TabularInline[Refund, Payment]):
    model = Refund
    extra = 0
    can_delete = False
    fields = ("created_at", "amount", "status", "reason", "requested_by", "stripe_refund_id")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# What an operator may change on a payment; each change goes through a service that
# records a PaymentEvent naming the staff user (save_model).
PAYMENT_EDITABLE_FIELDS = ("customer_email",)


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin[Payment]):
    list_display = ("id", "client", "amount", "currency", "status", "failure_code", "created_at")
    list_filter = (
        "status",
        admin_actions.StalledPaymentsFilter,
        "currency",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("=id", "=idempotency_key", "=stripe_payment_intent_id", "=trace_id")
    date_hierarchy = "created_at"
    inlines = (PaymentEventInline, RefundInline)
    # Each action calls the same service as the API and writes a PaymentEvent as staff:<user>.
    actions = admin_actions.PAYMENT_ACTIONS
    # Everything but the receipt address is read-only, new fields included: money, identity,
    # status, and what decides the next charge run's Stripe keys and whether it looks at
    # Stripe first (charge_attempts, key_generation, intent_created_at). description and
    # metadata were sent to Stripe under the payment's idempotency keys: a different value
    # would make a replayed create an idempotency_error.
    readonly_fields = (
        *(f.name for f in Payment._meta.fields if f.name not in PAYMENT_EDITABLE_FIELDS),
        "trace",
    )
    list_select_related = ("client",)

    @admin.display(description="trace in the tracing UI")
    def trace(self, payment: Payment) -> SafeString | str:
        return trace_link(payment.trace_id)

    def save_model(self, request: HttpRequest, obj: Payment, form: Any, change: bool) -> None:
        # Never obj.save(): the change is the service's, with its event and row lock.
        services.correct_customer_email(
            obj.pk,
            email=form.cleaned_data["customer_email"],
            actor=admin_actions.staff_actor(request),
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PaymentEvent)
class PaymentEventAdmin(ViewOnlyAdmin, admin.ModelAdmin[PaymentEvent]):
    list_display = ("created_at", "payment", "from_status", "to_status", "actor", "trace_id")
    list_filter = ("to_status", "actor")
    search_fields = ("=payment__id", "=trace_id")
    list_select_related = ("payment",)


# Keys are made by `manage.py create_api_client` / `api_key`, which show the key once; the
# admin shows only prefixes, never a hash, and can revoke.
_KEY_FIELDS = ("prefix", "scope", "created_at", "expires_at", "last_used_at", "revoked_at")


class ApiKeyInline(admin.TabularInline[ApiKey, ApiClient]):
    model = ApiKey
    extra = 0
    can_delete = False
    fields = _KEY_FIELDS
    readonly_fields = _KEY_FIELDS

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin[ApiClient]):
    list_display = ("name", "is_active", "request_limit", "created_at")
    search_fields = ("name", "keys__prefix")
    readonly_fields = ("created_at",)
    list_filter = ("is_active",)
    inlines = (ApiKeyInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    # Turn a client off (is_active) instead: its payments and idempotency records stay.
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    list_display = ("prefix", "client", *_KEY_FIELDS[1:])
    list_filter = ("scope", "revoked_at")
    search_fields = ("prefix", "client__name")
    fields = ("client", *_KEY_FIELDS)
    readonly_fields = fields
    actions = (admin_actions.revoke_api_keys,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# Made by the API and removed by the expiry task (payments.expire_idempotency_records):
# a record deleted by hand would let a retried request charge as a new payment.
@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ViewOnlyAdmin, admin.ModelAdmin[IdempotencyRecord]):
    list_display = ("client", "key", "response_status", "created_at", "completed_at")
    search_fields = ("=key",)
    exclude = ("response_body",)
    readonly_fields = (
        "client",
        "key",
        "request_fingerprint",
        "response_status",
        "locked_at",
        "completed_at",
        "created_at",
    )


# Refunds are made from the payment (action) or the API; the refunded total and Stripe's
# refund keys hang on these rows.
@admin.register(Refund)
class RefundAdmin(ViewOnlyAdmin, admin.ModelAdmin[Refund]):
    list_display = ("id", "payment", "amount", "status", "requested_by", "created_at")
    list_filter = ("status",)
    search_fields = ("=id", "=payment__id", "=stripe_refund_id")
    readonly_fields = tuple(f.name for f in Refund._meta.fields)


# The inbox dedupes Stripe's retries by event id: a deleted row would be applied again.
@admin.register(StripeEvent)
class StripeEventAdmin(ViewOnlyAdmin, admin.ModelAdmin[StripeEvent]):
    list_display = ("event_id", "event_type", "status", "outcome", "received_at")
    list_filter = ("status", "event_type")
    search_fields = ("=event_id", "=object_id", "=payment__id")
    readonly_fields = tuple(f.name for f in StripeEvent._meta.fields)
