"""`manage.py payments_recover`: re-drive stalled payments now instead of waiting for beat."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from payments import selectors, services


class Command(BaseCommand):
    help = (
        "Re-publish the charge of every pending/processing payment unchanged for "
        "--older-than seconds. Safe to run any time: charging is idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=settings.STALLED_PAYMENT_SECONDS,
            help="seconds without progress (default: STALLED_PAYMENT_SECONDS)",
        )
        parser.add_argument("--dry-run", action="store_true", help="list, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        stalled = selectors.stalled_payments(timedelta(seconds=options["older_than"]))
        rows = list(stalled.values_list("pk", "status", "updated_at"))
        if options["dry_run"]:
            for payment_id, status, updated_at in rows:
                self.stdout.write(
                    f"{payment_id}  {status:<10}  last change {updated_at:%Y-%m-%d %H:%M:%S}"
                )
            self.stdout.write(f"{len(rows)} stalled payment(s); nothing changed (--dry-run)")
            return
        redriven = 0
        for payment_id, _, _ in tqdm(rows, desc="re-driving", unit="payment", file=self.stderr):
            redriven += services.redrive_payments([str(payment_id)])
        self.stdout.write(
            self.style.SUCCESS(f"re-published {redriven} of {len(rows)} stalled payment(s)")
        )
