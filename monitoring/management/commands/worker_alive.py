"""`manage.py worker_alive`: liveness probe, exit 0 while the worker's heartbeat file is fresh."""

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Exit 0 if the worker refreshed its heartbeat file recently, else 1 (no broker call)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", default=settings.CELERY_WORKER_HEARTBEAT_FILE)
        parser.add_argument(
            "--max-age", type=float, default=settings.CELERY_WORKER_HEARTBEAT_MAX_AGE_SECONDS
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["file"]:
            self.stderr.write("no heartbeat file: pass --file or set CELERY_WORKER_HEARTBEAT_FILE")
            raise SystemExit(1)
        path = Path(options["file"])
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            self.stderr.write(f"dead: {path} does not exist")
            raise SystemExit(1) from None
        if age > options["max_age"]:
            self.stderr.write(f"dead: heartbeat {age:.0f} s old (limit {options['max_age']:.0f} s)")
            raise SystemExit(1)
        self.stdout.write(f"alive: heartbeat {age:.1f} s old")
