"""Nobody inside can charge twice by hand: every admin change form, and what it lets a staff
user edit, add or delete; the one payment edit goes through a service and leaves an event."""

from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.utils import timezone

from notifications.models import Notification
from outbox.models import OutboxMessage
from payments import services
from payments.models import (
    IdempotencyRecord,
    Payment,
    PaymentEvent,
    Refund,
    StripeEvent,
)
from tests.factories import PaymentFactory

# (editable fields, can add, can delete) for each of our models, inlines included.
OURS: dict[str, tuple[set[str], bool, bool]] = {
    "payments.payment": ({"customer_email"}, False, False),
    "payments.paymentevent": (set(), False, False),
    "payments.apiclient": ({"name", "contact_email", "is_active", "request_limit"}, False, False),
    "payments.apikey": (set(), False, False),
    "payments.idempotencyrecord": (set(), False, False),
    "payments.refund": (set(), False, False),
    "payments.stripeevent": (set(), False, False),
    "outbox.outboxmessage": (set(), False, False),
    "notifications.notification": (set(), False, False),
}
# Not ours, and deciding nothing about a charge: staff accounts, beat's schedule (its
# entries are upserted from CELERY_BEAT_SCHEDULE), task results, login lockouts (deleting
# an attempt is how an operator unlocks someone, docs/runbook.md).
THIRD_PARTY_APPS = {"auth", "django_celery_beat", "django_celery_results", "axes"}


@pytest.fixture
def one_of_each(db) -> dict[str, Any]:
    """A row of every model our admin shows."""
    client, _ = services.create_api_client(name="acme")
    payment = PaymentFactory(client=client, status="succeeded", customer_email="ann@shop.test")
    PaymentEvent.objects.create(payment=payment, to_status="succeeded", actor="worker")
    refund = Refund.objects.create(
        payment=payment, idempotency_key="r1", amount=100, requested_by="api:acme"
    )
    return {
        "payments.payment": payment,
        "payments.paymentevent": payment.events.get(),
        "payments.apiclient": client,
        "payments.apikey": client.keys.get(),
        "payments.idempotencyrecord": IdempotencyRecord.objects.create(
            client=client, key="k1", request_fingerprint="0" * 64, locked_at=timezone.now()
        ),
        "payments.refund": refund,
        "payments.stripeevent": StripeEvent.objects.create(
            event_id="evt_1", event_type="payment_intent.succeeded", stripe_created=1, payload={}
        ),
        "outbox.outboxmessage": OutboxMessage.objects.create(
            task_name="payments.charge_payment", args=[str(payment.pk)]
        ),
        "notifications.notification": Notification.objects.create(
            kind="receipt",
            subject=f"payment:{payment.pk}",
            dedupe_key=f"receipt:payment:{payment.pk}",
            recipient="ann@shop.test",
        ),
    }


def editable_fields(page: Any) -> set[str]:
    """The inputs a staff user can change on a rendered change form, inlines included."""
    fields = set(page.context["adminform"].form.fields)
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        assert not formset.can_delete, f"{formset.prefix} rows can be deleted"
        assert formset.max_num == 0 or not inline.has_add_permission
        fields |= {
            f"{formset.prefix}.{name}"
            for name in formset.empty_form.fields
            if name not in {"id", "DELETE", formset.fk.name}
        }
    return fields


def test_every_admin_change_form_lets_staff_edit_only_what_decides_no_charge(
    admin_client: Client, one_of_each
):
    registered = {
        f"{model._meta.app_label}.{model._meta.model_name}": model_admin
        for model, model_admin in admin.site._registry.items()
    }
    ours = {label for label in registered if label.split(".")[0] not in THIRD_PARTY_APPS}
    assert ours == set(OURS), "a model was added to the admin: say here what it may edit"

    found = {}
    for label in sorted(ours):
        app_label, model_name = label.split(".")
        obj = one_of_each[label]
        base = f"/admin/{app_label}/{model_name}"
        page = admin_client.get(f"{base}/{obj.pk}/change/")
        assert page.status_code == 200, label
        found[label] = (
            editable_fields(page),
            admin_client.get(f"{base}/add/").status_code == 200,
            admin_client.get(f"{base}/{obj.pk}/delete/").status_code == 200,
        )

    assert found == OURS


def test_bulk_delete_is_not_offered_where_rows_cannot_be_deleted(admin_client: Client, db):
    for path in ("outbox/outboxmessage", "payments/idempotencyrecord", "payments/payment"):
        page = admin_client.get(f"/admin/{path}/")

        assert page.status_code == 200
        assert 'value="delete_selected"' not in page.content.decode()


def change_form_data(page: Any, **changes: str) -> dict[str, Any]:
    """What a browser would post back from a rendered change form, with `changes`."""
    form = page.context["adminform"].form
    data: dict[str, Any] = {name: form[name].value() or "" for name in form.fields}
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data |= {
            management.add_prefix(name): management[name].value() for name in management.fields
        }
        for row in formset.forms:
            data |= {row.add_prefix(name): row[name].value() or "" for name in row.fields}
    return data | changes


def test_tampering_with_a_payment_form_changes_only_the_receipt_address_with_an_event(
    admin_client: Client, admin_user, one_of_each
):
    payment: Payment = one_of_each["payments.payment"]
    Payment.objects.filter(pk=payment.pk).update(
        charge_attempts=2, key_generation=1, intent_created_at=timezone.now() - timedelta(hours=1)
    )
    url = f"/admin/payments/payment/{payment.pk}/change/"
    before = Payment.objects.values().get(pk=payment.pk)
    events_before = payment.events.count()

    answer = admin_client.post(
        url,
        change_form_data(
            admin_client.get(url),
            customer_email="ann.corrected@shop.test",
            # Fields a tampered form sends; none of them is a field of the form.
            charge_attempts="0",
            key_generation="0",
            intent_created_at="2020-01-01 00:00:00",
            description="changed",
            metadata='{"order": "changed"}',
            amount="1",
            status="failed",
        ),
    )

    assert answer.status_code == 302, answer.content.decode()[:2000]
    after = Payment.objects.values().get(pk=payment.pk)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"customer_email", "updated_at"}
    assert after["customer_email"] == "ann.corrected@shop.test"
    event = payment.events.order_by("-id").first()
    assert payment.events.count() == events_before + 1
    assert event.actor == f"staff:{admin_user.username}"
    assert event.reason == "customer_email corrected by hand: a***@shop.test → a***@shop.test"
    assert (event.from_status, event.to_status) == ("succeeded", "succeeded")


def test_saving_a_payment_form_unchanged_writes_no_event(admin_client: Client, one_of_each):
    payment: Payment = one_of_each["payments.payment"]
    url = f"/admin/payments/payment/{payment.pk}/change/"
    events_before = payment.events.count()

    answer = admin_client.post(url, change_form_data(admin_client.get(url)))

    assert answer.status_code == 302
    assert payment.events.count() == events_before
