"""`manage.py outbox_status`: how much committed work the broker has not been given yet."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Count, Max, Min
from django.utils import timezone

from outbox import selectors


class Command(BaseCommand):
    help = "Unpublished outbox rows per task, the oldest one's age, and the last publish errors."

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        waiting = (
            selectors.unpublished()
            .values("task_name")
            .annotate(count=Count("id"), oldest=Min("created_at"), attempts=Max("publish_attempts"))
            .order_by("task_name")
        )
        rows = list(waiting)
        if not rows:
            self.stdout.write(
                self.style.SUCCESS("outbox empty: everything committed was published")
            )
            return
        self.stdout.write(f"{'task':<36} {'waiting':>8} {'oldest (s)':>11} {'max tries':>10}")
        for row in rows:
            age = (now - row["oldest"]).total_seconds()
            self.stdout.write(
                f"{row['task_name']:<36} {row['count']:>8} {age:>11.1f} {row['attempts']:>10}"
            )
        errors = (
            selectors.unpublished()
            .exclude(last_error="")
            .values_list("last_error", flat=True)
            .distinct()[:5]
        )
        if errors:
            self.stdout.write("last publish errors: " + ", ".join(errors))
