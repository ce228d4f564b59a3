"""`manage.py publish_queue_metrics`: the queue backlog to CloudWatch, every interval."""

import contextlib
import logging
import time
from typing import Any

import boto3
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from config.celery import app
from monitoring import backlog, broker, cloudwatch
from monitoring.exporter import configured_queues

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Publish Backlog, RunningWorkers and BacklogPerWorker to CloudWatch (ECS scaling)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval", type=float, default=settings.QUEUE_METRICS_INTERVAL_SECONDS
        )
        parser.add_argument("--namespace", default=settings.QUEUE_METRICS_NAMESPACE)
        parser.add_argument("--once", action="store_true", help="publish one reading and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        # Region, credentials and endpoint come from boto3's own chain (the ECS task role,
        # AWS_REGION, AWS_ENDPOINT_URL...). https://boto3.amazonaws.com/v1/documentation/api/latest/guide/configuration.html
        client = boto3.client("cloudwatch")
        probe = broker.probe_for(
            str(app.conf.broker_url),
            timeout_seconds=settings.BROKER_PROBE_TIMEOUT_SECONDS,
            management_url=settings.RABBITMQ_MANAGEMENT_URL,
        )
        with contextlib.suppress(KeyboardInterrupt):
            self._publish_every(client, probe, options)

    def _publish_every(self, client: Any, probe: broker.BrokerProbe, options: Any) -> None:
        while True:
            try:
                readings = backlog.measure(app, probe, configured_queues())
                data = cloudwatch.metric_data(readings, cloudwatch.running_workers(app))
                cloudwatch.publish(client, options["namespace"], data)
                logger.info("published %d queue metrics to %s", len(data), options["namespace"])
            except Exception:
                if options["once"]:
                    raise
                # A missed reading leaves a gap the alarm and the policy ride out.
                logger.warning("publishing queue metrics failed", exc_info=True)
            if options["once"]:
                return
            time.sleep(options["interval"])
