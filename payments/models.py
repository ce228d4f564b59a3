"""Payments' tables: API clients, payments and their history, idempotency, refunds, inbox."""

import uuid
from typing import ClassVar

from django.db import models
from django.db.models import F, Q


class ApiClient(models.Model):
    """A merchant system calling the API with one or more keys."""

    name = models.CharField(max_length=100, unique=True)
    contact_email = models.EmailField(blank=True)
    # Off: every key of the client is refused.
    is_active = models.BooleanField(default=True)
    # Stripe raises a merchant's limit on request; this is ours (README.md, "Rate limits").
    request_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Requests per API_RATE_LIMIT_WINDOW_SECONDS for each of this client's keys; "
        "empty: API_RATE_LIMIT_REQUESTS (100 per second).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # DRF asks the authenticated principal this; an API client is one.
    is_authenticated = True

    def __str__(self) -> str:
        return self.name


class ApiKeyScope(models.TextChoices):
    FULL = "full", "payments and refunds"
    PAYMENTS = "payments", "payments, no refunds"
    READ_ONLY = "read_only", "read only"


class ApiKeyHashScheme(models.TextChoices):
    HMAC_SHA256 = "hmac-sha256"
    # Keys made before keyed hashing; re-hashed with HMAC the first time they are used.
    LEGACY_SHA256 = "sha256"


class ApiKey(models.Model):
    """One key of a client; only its keyed hash is stored, its raw value was shown once."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="keys")
    prefix = models.CharField(max_length=16, help_text="First characters, to recognise a key.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    hash_scheme = models.CharField(
        max_length=16, choices=ApiKeyHashScheme.choices, default=ApiKeyHashScheme.HMAC_SHA256
    )
    scope = models.CharField(max_length=16, choices=ApiKeyScope.choices, default=ApiKeyScope.FULL)
    created_at = models.DateTimeField(auto_now_add=True)
    # Refused from then on: set when the key is made, or when it is rolled with an overlap.
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Written at most every API_KEY_LAST_USED_RESOLUTION_SECONDS.
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.get_scope_display()})"


class PaymentStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REQUIRES_ACTION = "requires_action"
    CANCELED = "canceled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class Payment(models.Model):
    """One payment a client asked for; amounts are integer minor units of `currency`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="payments")
    idempotency_key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    amount = models.BigIntegerField()
    amount_refunded = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    payment_method = models.CharField(max_length=255)
    customer_email = models.EmailField(blank=True)
    description = models.CharField(max_length=1000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=32, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    # When the PaymentIntent was created: Stripe forgets idempotency keys 24 h later.
    intent_created_at = models.DateTimeField(null=True, blank=True)
    # Runs of the charge task so far: every run after the first looks at the gateway first.
    charge_attempts = models.PositiveIntegerField(default=0)
    # Bumped after a gateway 5xx, which the gateway replays for that key's lifetime.
    key_generation = models.PositiveSmallIntegerField(default=0)
    # Transient failures of the charge so far, and when it runs again (config/retries.py).
    retries = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    failure_code = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    trace_id = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["client", "idempotency_key"], name="payment_unique_client_idempotency_key"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0) & Q(amount_refunded__lte=F("amount")),
                name="payment_refunded_within_amount",
            ),
        ]
        # Each serves a hot query in index order (tests/payments/test_query_plans.py), so
        # its cost stays flat as the table grows (measured at 1M rows by `make bench`).
        indexes: ClassVar = [
            # A client's list, newest first, and the same by status (cursor pagination).
            models.Index(fields=["client", "-created_at", "-id"], name="payment_client_newest"),
            models.Index(
                fields=["client", "status", "-created_at", "-id"],
                name="payment_client_status_newest",
            ),
            # The stalled-payment sweeper: charges still owed, oldest change first.
            models.Index(
                fields=["updated_at"],
                condition=Q(status__in=["pending", "processing"]),
                name="payment_charge_owed",
            ),
            # Reconciliation reads a window of paid payments in (created_at, id) order.
            models.Index(fields=["created_at", "id"], name="payment_created"),
            # The beat leader publishes charges whose next attempt is due (outbox/due.py).
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(next_attempt_at__isnull=False),
                name="payment_next_attempt",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.amount} {self.currency} {self.status}"


class PaymentEvent(models.Model):
    """An append-only record of one status transition."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=32, blank=True)
    to_status = models.CharField(max_length=32)
    actor = models.CharField(max_length=100)
    reason = models.CharField(max_length=500, blank=True)
    trace_id = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status} by {self.actor}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("PaymentEvent rows are append-only")
        super().save(*args, **kwargs)


class IdempotencyRecord(models.Model):
    """The claim on (client, Idempotency-Key) and, once done, the exact response sent."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    # Names the request holding the claim, so a request that lost it to a takeover can
    # never delete or complete the new holder's record.
    lock_token = models.UUIDField(default=uuid.uuid4)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    locked_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotency_unique_client_key")
        ]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.key}"


class RefundStatus(models.TextChoices):
    # Accepted: its amount is reserved in Payment.amount_refunded until Stripe decides.
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    # Stripe refused or failed it; its reservation was released.
    FAILED = "failed"


class Refund(models.Model):
    """A refund of (part of) a payment; its amount is reserved on the payment when accepted."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    # The API's Idempotency-Key, or the admin form's one-time key: one refund per key.
    idempotency_key = models.CharField(max_length=255)
    # SHA-256 of the API request; answers a retry after its idempotency record expired.
    request_fingerprint = models.CharField(max_length=64, blank=True)
    amount = models.BigIntegerField()
    reason = models.CharField(max_length=32, blank=True)
    status = models.CharField(
        max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    stripe_refund_id = models.CharField(max_length=255, blank=True, db_index=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    requested_by = models.CharField(max_length=100)
    trace_id = models.CharField(max_length=32, blank=True)
    # Runs of the refund task; every run after the first looks at the gateway first.
    attempts = models.PositiveIntegerField(default=0)
    key_generation = models.PositiveSmallIntegerField(default=0)
    retries = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["payment", "idempotency_key"], name="refund_unique_payment_key"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["status", "updated_at"]),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(next_attempt_at__isnull=False),
                name="refund_next_attempt",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.amount} {self.status}"


class StripeEventStatus(models.TextChoices):
    RECEIVED = "received"
    PROCESSED = "processed"
    # A type this service does not act on: kept for the record.
    IGNORED = "ignored"
    # About a PaymentIntent or Refund this service does not know: left for reconciliation.
    UNMATCHED = "unmatched"


class StripeEvent(models.Model):
    """The webhook inbox: one row per Stripe event id, however often Stripe delivers it."""

    event_id = models.CharField(max_length=255, unique=True)
    event_type = models.CharField(max_length=100, db_index=True)
    # The id of data.object (pi_..., re_..., ch_...), for search and reconciliation.
    object_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_created = models.BigIntegerField(help_text="Unix time Stripe created the event.")
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=StripeEventStatus.choices, default=StripeEventStatus.RECEIVED
    )
    outcome = models.CharField(max_length=500, blank=True)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="stripe_events"
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Last change or re-drive: the recovery sweeper re-queues rows left `received`.
    updated_at = models.DateTimeField(auto_now=True)
    retries = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-received_at", "-id"]
        indexes: ClassVar = [
            models.Index(
                fields=["updated_at"], condition=Q(status="received"), name="stripe_event_unapplied"
            ),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(next_attempt_at__isnull=False),
                name="stripe_event_next_attempt",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.event_type}"


class ReconciliationPhase(models.TextChoices):
    INTENTS = "intents"
    REFUNDS = "refunds"
    # Paid here, but absent from the gateway's list of intents.
    LOCAL_PAYMENTS = "local_payments"
    DONE = "done"


class ReconciliationRun(models.Model):
    """One walk over the gateway's recent objects, done in chunks that each resume at `cursor`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    since = models.DateTimeField(help_text="Objects created since then are compared.")
    fix = models.BooleanField(default=False)
    actor = models.CharField(max_length=100)
    phase = models.CharField(
        max_length=16, choices=ReconciliationPhase.choices, default=ReconciliationPhase.INTENTS
    )
    # Where the next chunk starts: the gateway's last object id, or the last payment id.
    cursor = models.CharField(max_length=255, blank=True)
    intents_checked = models.PositiveIntegerField(default=0)
    refunds_checked = models.PositiveIntegerField(default=0)
    payments_checked = models.PositiveIntegerField(default=0)
    mismatches_found = models.PositiveIntegerField(default=0)
    mismatches_fixed = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Transient failures of the current chunk, and when it runs again.
    retries = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-started_at"]
        indexes: ClassVar = [
            models.Index(
                fields=["updated_at"],
                condition=~Q(phase="done"),
                name="reconciliation_run_open",
            ),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(next_attempt_at__isnull=False),
                name="reconciliation_next_attempt",
            ),
        ]

    def __str__(self) -> str:
        return f"reconciliation {self.started_at:%Y-%m-%d %H:%M} {self.phase}"


class ReconciliationSeenIntent(models.Model):
    """An intent the gateway listed during a run: what the local-payments phase checks against."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="seen")
    intent_id = models.CharField(max_length=255)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["run", "intent_id"])]

    def __str__(self) -> str:
        return self.intent_id
