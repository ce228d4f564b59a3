"""App config for payments: its durable work for the recovery sweeper, admin login hooks."""

from datetime import timedelta

from django.apps import AppConfig
from django.conf import settings


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from outbox.recovery import WorkKind, register
        from payments import admin_login, selectors
        from payments.services import reconciliation_runs, recovery

        register(
            WorkKind(
                name="payment",
                threshold=lambda: timedelta(seconds=settings.STALLED_PAYMENT_SECONDS),
                stuck=selectors.stalled_payments,
                redrive=recovery.redrive_payments,
            )
        )
        register(
            WorkKind(
                name="refund",
                threshold=lambda: timedelta(seconds=settings.STALLED_REFUND_SECONDS),
                stuck=selectors.stalled_refunds,
                redrive=recovery.redrive_refunds,
            )
        )
        register(
            WorkKind(
                name="reconciliation_run",
                threshold=lambda: timedelta(seconds=settings.STALLED_RECONCILIATION_SECONDS),
                stuck=selectors.stalled_reconciliation_runs,
                redrive=reconciliation_runs.redrive_runs,
            )
        )
        register(
            WorkKind(
                name="webhook_event",
                threshold=lambda: timedelta(seconds=settings.STALLED_WEBHOOK_EVENT_SECONDS),
                stuck=selectors.unapplied_events,
                redrive=recovery.redrive_events,
            )
        )
        admin_login.connect()
