"""Reconciliation runs: the gateway's recent objects walked in bounded chunks with a cursor.

A run compares the gateway's intents, then its refunds, then our paid payments it did
not list. Each chunk reads a few pages, applies the safe fixes, and commits its cursor,
so a chunk stays far inside the task time limits at any volume, a killed worker loses
one chunk at most, and a lost chunk message is re-driven by the recovery sweeper
(reconciliation runs are durable work like the rest).
"""

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config import task_names
from outbox import services as outbox
from payments import selectors, transitions
from payments.gateways.base import PaymentGateway
from payments.models import ReconciliationPhase, ReconciliationRun, ReconciliationSeenIntent
from payments.services import reconciliation
from payments.services.reconciliation import Report

logger = logging.getLogger(__name__)

Phase = ReconciliationPhase
Progress = Callable[[int], object]


def start_run(
    *, since: datetime, fix: bool, actor: str = transitions.RECONCILIATION_ACTOR
) -> ReconciliationRun:
    return ReconciliationRun.objects.create(since=since, fix=fix, actor=actor)


def start_scheduled_run(*, since: datetime, fix: bool) -> ReconciliationRun | None:
    """Beat: start a run and queue its first chunk, unless one is still making progress."""
    cutoff = timezone.now() - timedelta(seconds=settings.STALLED_RECONCILIATION_SECONDS)
    with transaction.atomic():
        if selectors.open_reconciliation_runs().filter(updated_at__gte=cutoff).exists():
            return None
        run = start_run(since=since, fix=fix)
        outbox.enqueue(task_names.RECONCILE_CHUNK, str(run.pk))
    return run


def run_chunk(
    run_id: uuid.UUID | str,
    gateway: PaymentGateway,
    *,
    queue_next: bool,
    pages: int | None = None,
    progress: Progress | None = None,
) -> Report:
    """Advance the run by up to `pages` pages; returns what this chunk found.

    Two deliveries of the same chunk compare the same objects (harmless: every fix is
    forward-only) and only the first one's cursor is kept.
    """
    run = ReconciliationRun.objects.get(pk=run_id)
    report = Report()
    if run.phase == Phase.DONE:
        return report
    phase, cursor = _walk(run, gateway, report, pages or settings.RECONCILIATION_PAGES_PER_CHUNK)
    with transaction.atomic():
        advanced = ReconciliationRun.objects.filter(
            pk=run.pk, phase=run.phase, cursor=run.cursor
        ).update(
            phase=phase,
            cursor=cursor,
            intents_checked=run.intents_checked + report.intents_checked,
            refunds_checked=run.refunds_checked + report.refunds_checked,
            payments_checked=run.payments_checked + report.payments_checked,
            mismatches_found=run.mismatches_found + len(report.mismatches),
            mismatches_fixed=run.mismatches_fixed + sum(m.fixed for m in report.mismatches),
            updated_at=timezone.now(),
            finished_at=timezone.now() if phase == Phase.DONE else None,
            # Progress: the next chunk starts with its whole retry budget.
            retries=0,
            next_attempt_at=None,
        )
        if not advanced:
            return Report()  # another delivery of this chunk got there first
        if phase == Phase.DONE:
            # What the local-payments phase needed is no longer needed.
            ReconciliationSeenIntent.objects.filter(run=run).delete()
        elif queue_next:
            outbox.enqueue(task_names.RECONCILE_CHUNK, str(run.pk))
    reconciliation.log_report(report)
    if progress:
        progress(report.intents_checked + report.refunds_checked + report.payments_checked)
    return report


def reconcile(
    gateway: PaymentGateway,
    *,
    since: datetime,
    fix: bool,
    actor: str = transitions.RECONCILIATION_ACTOR,
    progress: Progress | None = None,
) -> Report:
    """A whole run, chunk after chunk in this process (the command); returns every finding."""
    run = start_run(since=since, fix=fix, actor=actor)
    report = Report()
    while run.phase != Phase.DONE:
        chunk = run_chunk(run.pk, gateway, queue_next=False, progress=progress)
        report.merge(chunk)
        run.refresh_from_db()
    return report


def redrive_runs(run_ids: Sequence[uuid.UUID]) -> int:
    """Queue the next chunk again for runs whose chunk message was lost."""
    count = 0
    for run_id in run_ids:
        with transaction.atomic():
            touched = (
                selectors.open_reconciliation_runs()
                .filter(pk=run_id)
                .update(updated_at=timezone.now(), retries=0, next_attempt_at=None)
            )
            if touched:
                outbox.enqueue(task_names.RECONCILE_CHUNK, str(run_id))
                count += 1
    return count


def _walk(
    run: ReconciliationRun, gateway: PaymentGateway, report: Report, pages: int
) -> tuple[str, str]:
    """Read up to `pages` pages from where the run stands; returns the new (phase, cursor)."""
    phase, cursor = run.phase, run.cursor
    created_since = int(run.since.timestamp())
    for _ in range(pages):
        if phase == Phase.INTENTS:
            intents = gateway.intents_page(created_since=created_since, starting_after=cursor)
            ReconciliationSeenIntent.objects.bulk_create(
                ReconciliationSeenIntent(run=run, intent_id=intent.intent_id)
                for intent in intents.items
            )
            reconciliation.check_intents(report, intents.items, fix=run.fix, actor=run.actor)
            phase, cursor = _next(phase, intents.next_cursor, Phase.REFUNDS)
        elif phase == Phase.REFUNDS:
            refunds = gateway.refunds_page(created_since=created_since, starting_after=cursor)
            reconciliation.check_refunds(report, refunds.items, fix=run.fix, actor=run.actor)
            phase, cursor = _next(phase, refunds.next_cursor, Phase.LOCAL_PAYMENTS)
        elif phase == Phase.LOCAL_PAYMENTS:
            local = selectors.paid_payments_missing_from_run(
                run, after=cursor, limit=LOCAL_PAYMENTS_PER_PAGE
            )
            report.payments_checked += local.scanned
            reconciliation.check_local_payments(report, local.missing)
            phase, cursor = _next(phase, local.cursor or None, Phase.DONE)
        else:
            break
    return phase, cursor


def _next(phase: str, next_cursor: str | None, following: str) -> tuple[str, str]:
    return (phase, next_cursor) if next_cursor else (following, "")


# Our own table is read in bigger pages than the gateway's 100 objects.
LOCAL_PAYMENTS_PER_PAGE = 1000
