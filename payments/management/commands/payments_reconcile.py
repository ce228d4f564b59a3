"""`manage.py payments_reconcile [--since] [--fix]`: compare with Stripe and print a report."""

import sys
from argparse import ArgumentParser
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from payments import services
from payments.gateways import get_gateway
from payments.services import reconciliation

DEFAULT_SINCE = timedelta(days=2)


def parse_since(raw: str) -> datetime:
    """An ISO 8601 time, or an age such as 90m, 36h, 7d."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if raw[-1:] in units and raw[:-1].isdigit():
        return timezone.now() - timedelta(**{units[raw[-1]]: int(raw[:-1])})
    parsed = parse_datetime(raw)
    if parsed is None:
        raise CommandError(f"--since {raw!r}: use an ISO 8601 time or an age like 36h or 7d")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


class Command(BaseCommand):
    help = "Compare payments and refunds with Stripe; --fix applies the safe corrections."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--since", default="2d", help="ISO 8601 time or age (90m, 36h, 7d); default 2d"
        )
        parser.add_argument(
            "--fix", action="store_true", help="apply safe fixes as PaymentEvents by reconciliation"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = parse_since(options["since"])
        with tqdm(file=sys.stderr, unit=" objects", desc="reconciling", leave=True) as bar:
            report = services.reconcile(
                get_gateway(), since=since, fix=options["fix"], progress=bar.update
            )
        self.stdout.write(format_report(report, since=since, fix=options["fix"]))
        if any(not m.fixed for m in report.mismatches):
            # Non-zero for cron and CI: something still needs a person.
            raise SystemExit(1)


def format_report(report: reconciliation.Report, *, since: datetime, fix: bool) -> str:
    lines = [
        f"Reconciliation with Stripe since {since.isoformat(timespec='seconds')}"
        f" ({'fixing safe mismatches' if fix else 'report only'})",
        "",
    ]
    if report.mismatches:
        header = ("kind", "payment", "stripe id", "here", "at Stripe", "fixed")
        rows = [
            (
                m.kind.value,
                m.payment_id or "—",
                m.stripe_id or "—",
                m.here,
                m.at_stripe,
                f"yes ({m.note})" if m.fixed else "no",
            )
            for m in report.mismatches
        ]
        lines += [*_table(header, rows), ""]
    lines += _table(
        ("summary", "found", "fixed"),
        [(kind, str(found), str(fixed)) for kind, (found, fixed) in report.counts().items()]
        + [
            (
                "total",
                str(len(report.mismatches)),
                str(sum(m.fixed for m in report.mismatches)),
            )
        ],
    )
    lines.append(
        f"checked {report.intents_checked} PaymentIntents, {report.refunds_checked} refunds, "
        f"{report.payments_checked} paid payments here"
    )
    return "\n".join(lines)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
        ).rstrip()

    return [line(header), line(tuple("-" * w for w in widths)), *(line(row) for row in rows)]
