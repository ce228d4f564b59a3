"""`manage.py payments_replay`: disaster recovery; re-publish all unfinished work from the DB."""

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from outbox import selectors as outbox_selectors
from outbox import services as outbox
from payments import selectors, services


class Command(BaseCommand):
    help = (
        "After the broker lost its messages: re-publish every unfinished payment's charge, "
        "every pending refund, every webhook event not applied yet (created --since, or the "
        "given payment --ids) and every unpublished outbox row. Safe to run twice: every "
        "task is idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--since", help="ISO date-time, e.g. 2026-11-25T10:00:00Z")
        which.add_argument("--ids", nargs="+", help="payment ids (their charges and refunds)")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        since = self._since(options["since"])
        payments = selectors.unfinished_payments(since=since)
        refunds = selectors.pending_refunds(since=since)
        events = selectors.received_events(since=since)
        if options["ids"]:
            payments = payments.filter(pk__in=options["ids"])
            refunds = refunds.filter(payment_id__in=options["ids"])
            events = events.none()
        work: dict[str, tuple[list[Any], Callable[[Iterable[Any]], int]]] = {
            "payment": (list(payments.values_list("pk", flat=True)), services.redrive_payments),
            "refund": (list(refunds.values_list("pk", flat=True)), services.redrive_refunds),
            "webhook event": (list(events.values_list("pk", flat=True)), services.redrive_events),
        }
        unpublished = outbox_selectors.unpublished().count()
        if options["dry_run"]:
            owed = ", ".join(f"{len(ids)} {name}(s)" for name, (ids, _) in work.items())
            self.stdout.write(f"would re-publish {owed} and {unpublished} outbox row(s)")
            return
        done = {
            name: sum(redrive([pk]) for pk in tqdm(ids, desc=name, unit="row", file=self.stderr))
            for name, (ids, redrive) in work.items()
        }
        relayed = outbox.relay_unpublished(grace_seconds=0, batch_size=max(unpublished, 1))
        summary = ", ".join(f"{count} {name}(s)" for name, count in done.items())
        self.stdout.write(
            self.style.SUCCESS(f"re-published {summary} and {relayed} waiting outbox row(s)")
        )

    def _since(self, raw: str | None) -> datetime | None:
        if raw is None:
            return None
        since = parse_datetime(raw)
        if since is None:
            raise CommandError(f"--since {raw!r} is not an ISO date-time")
        return since
