"""The queue backlog as CloudWatch metrics: ECS scales the workers and alarms on them.

Namespace `Payments/Celery` (QUEUE_METRICS_NAMESPACE), dimension `QueueName`:
- `Backlog` per work queue, and for `all` of them: what monitoring.backlog counts.
- `RunningWorkers` (`all`): workers consuming the work queues, from one inspect broadcast.
- `BacklogPerWorker` (`all`): Backlog / RunningWorkers (Backlog itself while no worker runs),
  the target-tracking metric AWS recommends for queue workers:
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-using-sqs-queue.html
docker/ecs/worker-scaling.yaml holds the alarm and the scaling policy that read them.
"""

from typing import TYPE_CHECKING, Any

from celery import Celery

from config.queues import WORK_QUEUES
from monitoring.backlog import QueueBacklog

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricDatumTypeDef

ALL_QUEUES = "all"
DIMENSION = "QueueName"


def _datum(name: str, queue: str, value: float) -> "MetricDatumTypeDef":
    return {
        "MetricName": name,
        "Dimensions": [{"Name": DIMENSION, "Value": queue}],
        "Value": float(value),
        "Unit": "Count",
    }


def metric_data(backlogs: list[QueueBacklog], running_workers: int) -> list["MetricDatumTypeDef"]:
    """One reading as CloudWatch data points."""
    total = sum(reading.total for reading in backlogs)
    return [
        *(_datum("Backlog", reading.queue, reading.total) for reading in backlogs),
        _datum("Backlog", ALL_QUEUES, total),
        _datum("RunningWorkers", ALL_QUEUES, running_workers),
        _datum("BacklogPerWorker", ALL_QUEUES, total / max(running_workers, 1)),
    ]


def running_workers(app: Celery, timeout: float = 1.0) -> int:
    """Workers that answer within `timeout` and consume at least one work queue."""
    replies: dict[str, Any] = app.control.inspect(timeout=timeout).active_queues() or {}
    return sum(
        1 for queues in replies.values() if any(q["name"] in WORK_QUEUES for q in queues or [])
    )


def publish(client: "CloudWatchClient", namespace: str, data: list["MetricDatumTypeDef"]) -> None:
    # PutMetricData takes up to 1000 data points per call; a reading is a handful.
    client.put_metric_data(Namespace=namespace, MetricData=data)
