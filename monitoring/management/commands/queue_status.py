"""`manage.py queue_status [--watch]`: the on-call screen (queues, workers, failures, beat)."""

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from config.celery import app
from monitoring import broker, snapshot

CLEAR_SCREEN = "\033[H\033[2J"


class Command(BaseCommand):
    help = "Queue depth and age, workers, failure rate, outbox lag, stalled payments, beat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
        parser.add_argument("--broker", default="", help="broker URL (default: the app's)")
        parser.add_argument("--interval", type=float, default=2.0, help="--watch refresh, s")
        parser.add_argument(
            "--listen",
            type=float,
            default=2.5,
            help="seconds to wait for worker heartbeats (workers send one every 2 s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        broker_url = options["broker"] or str(app.conf.broker_url)
        probe = broker.probe_for(
            broker_url,
            timeout_seconds=settings.BROKER_PROBE_TIMEOUT_SECONDS,
            management_url=settings.RABBITMQ_MANAGEMENT_URL,
        )
        listener = snapshot.WorkerListener(app, broker_url)
        if not options["watch"]:
            listener.listen(options["listen"])
            status = snapshot.take(app, broker_url, probe, listener)
            self.stdout.write(snapshot.render(status), ending="")
            return
        listener.listen_in_background()
        try:
            while True:
                status = snapshot.take(app, broker_url, probe, listener)
                self.stdout.write(CLEAR_SCREEN + snapshot.render(status), ending="")
                self.stdout.flush()
                time.sleep(options["interval"])
        except KeyboardInterrupt:
            pass
        finally:
            listener.stop()
