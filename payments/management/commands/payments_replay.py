"""`manage.py payments_replay`: disaster recovery; re-publish all unfinished work from the DB."""

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
        "After the broker lost its messages: re-publish the charge of every unfinished "
        "payment (created --since, or the given --ids) and every unpublished outbox row. "
        "Safe to run twice: every task is idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--since", help="ISO date-time, e.g. 2026-11-25T10:00:00Z")
        which.add_argument("--ids", nargs="+", help="payment ids")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        payments = selectors.unfinished_payments(since=self._since(options["since"]))
        if options["ids"]:
            payments = payments.filter(pk__in=options["ids"])
        ids = [str(pk) for pk in payments.values_list("pk", flat=True)]
        unpublished = outbox_selectors.unpublished().count()
        if options["dry_run"]:
            self.stdout.write(
                f"would re-publish {len(ids)} payment(s) and {unpublished} outbox row(s)"
            )
            return
        redriven = sum(
            services.redrive_payments([payment_id])
            for payment_id in tqdm(ids, desc="payments", unit="payment", file=self.stderr)
        )
        relayed = outbox.relay_unpublished(grace_seconds=0, batch_size=max(unpublished, 1))
        self.stdout.write(
            self.style.SUCCESS(
                f"re-published {redriven} payment(s) and {relayed} waiting outbox row(s)"
            )
        )

    def _since(self, raw: str | None) -> datetime | None:
        if raw is None:
            return None
        since = parse_datetime(raw)
        if since is None:
            raise CommandError(f"--since {raw!r} is not an ISO date-time")
        return since
