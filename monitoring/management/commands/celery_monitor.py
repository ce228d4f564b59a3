"""`manage.py celery_monitor`: serve Celery, broker and payment metrics for Prometheus."""

import contextlib
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from config.celery import app
from monitoring import broker
from monitoring.exporter import Monitor


class Command(BaseCommand):
    help = "Consume Celery events, read the broker and the database, serve /metrics."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.CELERY_MONITOR_PORT)
        parser.add_argument("--address", default=settings.CELERY_MONITOR_ADDRESS)
        parser.add_argument(
            "--refresh", type=float, default=settings.CELERY_MONITOR_REFRESH_SECONDS
        )

    def handle(self, *args: Any, **options: Any) -> None:
        probe = broker.probe_for(
            str(app.conf.broker_url),
            timeout_seconds=settings.BROKER_PROBE_TIMEOUT_SECONDS,
            management_url=settings.RABBITMQ_MANAGEMENT_URL,
        )
        monitor = Monitor(
            app,
            probe=probe,
            refresh_seconds=options["refresh"],
        )
        with contextlib.suppress(KeyboardInterrupt):
            monitor.run(port=options["port"], address=options["address"])
