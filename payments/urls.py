"""Routes of the payments API."""

from django.urls import path

from payments import api

urlpatterns = [
    path("payments", api.PaymentListCreateView.as_view(), name="payment-list"),
    path("payments/<str:payment_id>", api.PaymentDetailView.as_view(), name="payment-detail"),
    path(
        "payments/<str:payment_id>/refunds",
        api.RefundCreateView.as_view(),
        name="payment-refunds",
    ),
    path("webhooks/stripe", api.StripeWebhookView.as_view(), name="stripe-webhook"),
]
