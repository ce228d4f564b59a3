"""App config for payments: its durable work for the recovery sweeper, admin login hooks."""

from datetime import timedelta

from django.apps import AppConfig
from django.conf import settings


class PaymentsConfig(AppConfig):
    name = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config import task_names
        from outbox.recovery import Retried, WorkKind, register
        from payments import admin_login, selectors, transitions
        from payments.models import Payment, Refund, RefundStatus, StripeEvent, StripeEventStatus
        from payments.services import reconciliation_runs, recovery

        register(
            WorkKind(
                name="payment",
                threshold=lambda: timedelta(seconds=settings.STALLED_PAYMENT_SECONDS),
                stuck=selectors.stalled_payments,
                redrive=recovery.redrive_payments,
                retried=Retried(
                    owed=lambda: Payment.objects.filter(status__in=transitions.CHARGE_OWED),
                    task_name=task_names.CHARGE_PAYMENT,
                ),
            )
        )
        register(
            WorkKind(
                name="refund",
                threshold=lambda: timedelta(seconds=settings.STALLED_REFUND_SECONDS),
                stuck=selectors.stalled_refunds,
                redrive=recovery.redrive_refunds,
                retried=Retried(
                    owed=lambda: Refund.objects.filter(status=RefundStatus.PENDING),
                    task_name=task_names.REFUND_PAYMENT,
                ),
            )
        )
        register(
            WorkKind(
                name="reconciliation_run",
                threshold=lambda: timedelta(seconds=settings.STALLED_RECONCILIATION_SECONDS),
                stuck=selectors.stalled_reconciliation_runs,
                redrive=reconciliation_runs.redrive_runs,
                retried=Retried(
                    owed=selectors.open_reconciliation_runs, task_name=task_names.RECONCILE_CHUNK
                ),
            )
        )
        register(
            WorkKind(
                name="webhook_event",
                threshold=lambda: timedelta(seconds=settings.STALLED_WEBHOOK_EVENT_SECONDS),
                stuck=selectors.unapplied_events,
                redrive=recovery.redrive_events,
                retried=Retried(
                    owed=lambda: StripeEvent.objects.filter(status=StripeEventStatus.RECEIVED),
                    task_name=task_names.PROCESS_STRIPE_EVENT,
                ),
            )
        )
        admin_login.connect()
