"""The on-call engineer's buttons: refund, retry now, reconcile, mark failed; revoke API keys."""

import uuid
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from payments import selectors, services
from payments.exceptions import PaymentError
from payments.gateways import get_gateway
from payments.gateways.base import GatewayError
from payments.models import ApiKey, Payment


class StalledPaymentsFilter(admin.SimpleListFilter):
    """Stalled payments (selectors.stalled_payments) at a chosen age: the ones to look at first."""

    title = "stalled (no change for)"
    parameter_name = "stalled_minutes"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("15", "15 minutes"), ("60", "1 hour"), ("1440", "1 day")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        minutes = self.value()
        if not minutes or not minutes.isdigit():
            return queryset
        stalled = selectors.stalled_payments(timedelta(minutes=int(minutes)))
        return queryset.filter(pk__in=stalled.values("pk"))


class RefundForm(forms.Form):
    amount = forms.IntegerField(
        min_value=1, required=False, help_text="Minor units; empty refunds all that is left."
    )
    reason = forms.ChoiceField(
        choices=[("", "—"), *((r, r) for r in services.REFUND_REASONS)], required=False
    )
    # Made when the page is shown: submitting the same page twice refunds once.
    operation_key = forms.UUIDField(widget=forms.HiddenInput)


class MarkFailedForm(forms.Form):
    reason = forms.CharField(max_length=400, help_text="Why; kept in the payment's history.")


def staff_actor(request: HttpRequest) -> str:
    return f"staff:{request.user.get_username()}"


def _action_page(
    request: HttpRequest,
    queryset: QuerySet[Payment],
    action: str,
    title: str,
    form: forms.Form,
) -> TemplateResponse:
    return TemplateResponse(
        request,
        "admin/payments/payment/action_form.html",
        {
            **admin.site.each_context(request),
            "title": title,
            "action": action,
            "form": form,
            "payments": queryset,
            "opts": Payment._meta,
        },
    )


def _each(request: HttpRequest, queryset: QuerySet[Payment], done: str, call: Any) -> None:
    """Run `call(payment)` for each payment; report success or the refusal per payment."""
    for payment in queryset:
        try:
            note = call(payment)
        except (PaymentError, GatewayError) as refused:
            messages.error(request, f"{payment.pk}: {refused}")
        else:
            messages.success(request, f"{payment.pk}: {note or done}")


@admin.action(description="Refund selected payments…")
def refund_payments(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[Payment]
) -> HttpResponse | None:
    if "apply" not in request.POST:
        form = RefundForm(initial={"operation_key": uuid.uuid4()})
        return _action_page(request, queryset, "refund_payments", "Refund payments", form)
    form = RefundForm(request.POST)
    if not form.is_valid():
        return _action_page(request, queryset, "refund_payments", "Refund payments", form)
    data = form.cleaned_data

    def refund(payment: Payment) -> str:
        created = services.request_refund(
            payment_id=payment.pk,
            amount=data["amount"],
            reason=data["reason"],
            idempotency_key=f"admin:{data['operation_key']}",
            requested_by=staff_actor(request),
        )
        return f"refund {created.pk} of {created.amount} is {created.status}"

    _each(request, queryset, "refund requested", refund)
    return None


@admin.action(description="Retry the charge now (same Stripe keys)")
def retry_charge_now(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
    _each(
        request,
        queryset,
        "charge re-published",
        lambda payment: services.retry_charge_now(payment.pk, actor=staff_actor(request)),
    )


@admin.action(description="Reconcile with Stripe")
def reconcile_with_stripe(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[Payment]
) -> None:
    gateway = get_gateway()

    def reconcile(payment: Payment) -> str:
        found = services.reconcile_payment_now(payment.pk, gateway, actor=staff_actor(request))
        return "; ".join(
            f"{m.kind.value}: here {m.here}, Stripe {m.at_stripe}{' — fixed' if m.fixed else ''}"
            for m in found
        )

    _each(request, queryset, "agrees with Stripe", reconcile)


@admin.action(description="Mark failed…")
def mark_failed(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[Payment]
) -> HttpResponse | None:
    form = MarkFailedForm(request.POST if "apply" in request.POST else None)
    if not form.is_valid():
        return _action_page(request, queryset, "mark_failed", "Mark payments failed", form)
    reason = form.cleaned_data["reason"]
    gateway = get_gateway()
    _each(
        request,
        queryset,
        "marked failed",
        lambda payment: services.mark_failed(
            payment.pk, gateway, actor=staff_actor(request), reason=reason
        ),
    )
    return None


PAYMENT_ACTIONS = (refund_payments, retry_charge_now, reconcile_with_stripe, mark_failed)


@admin.action(description="Revoke selected API keys (at once)")
def revoke_api_keys(modeladmin: Any, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
    for key in queryset:
        services.revoke_api_key(key=key)
    modeladmin.message_user(request, f"revoked {queryset.count()} key(s)", messages.SUCCESS)
