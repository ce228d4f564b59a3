"""`manage.py flower`: Celery's Flower, stateless, read-only, behind basic auth."""

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def flower_arguments(*, port: int, address: str, max_tasks: int) -> list[str]:
    """Flower's command line. The basic auth stays in the environment (FLOWER_BASIC_AUTH),
    which Flower reads itself, so no password shows in `ps`.
    https://flower.readthedocs.io/en/latest/config.html
    """
    return [
        "-A",
        "config",
        "flower",
        f"--port={port}",
        f"--address={address}",
        # Nothing on disk: a restarted or rescheduled Flower starts empty and rebuilds
        # its view from the events the workers send.
        "--persistent=False",
        f"--max_tasks={max_tasks}",
        # No remote control from the UI or the API: shutting workers down, resizing pools,
        # revoking or sending tasks answer 403 (Flower >= 2.2).
        "--read_only=True",
    ]


def invalid_credentials(pairs: list[str]) -> list[str]:
    return [pair for pair in pairs if ":" not in pair or not all(pair.split(":", 1))]


class Command(BaseCommand):
    help = "Run Flower read-only and stateless; with DEBUG off, only with FLOWER_BASIC_AUTH."
    # Flower needs neither the database nor the project's checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.FLOWER_PORT)
        parser.add_argument("--address", default=settings.FLOWER_ADDRESS)
        parser.add_argument("--max-tasks", type=int, default=settings.FLOWER_MAX_TASKS)

    def handle(self, *args: Any, **options: Any) -> None:
        credentials = settings.FLOWER_BASIC_AUTH
        if invalid_credentials(credentials):
            raise CommandError("FLOWER_BASIC_AUTH must be user:password pairs, comma-separated")
        if not credentials and not settings.DEBUG:
            raise CommandError(
                "DEBUG=False: Flower shows every task and worker, so it needs "
                "FLOWER_BASIC_AUTH=user:password in the environment"
            )
        arguments = flower_arguments(
            port=options["port"], address=options["address"], max_tasks=options["max_tasks"]
        )
        # Replace this process: the supervisor's signals and kill -9 reach Flower itself.
        os.execv(sys.executable, [sys.executable, "-m", "celery", *arguments])  # noqa: S606
