"""docker/ecs/worker-scaling.yaml and `manage.py publish_queue_metrics`, against moto: a local
AWS (server mode) on 127.0.0.1. Nothing reaches AWS itself."""

import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import yaml
from kombu import Connection

from config import task_names
from config.celery import app as celery_app
from monitoring import cloudwatch
from outbox.models import OutboxMessage
from tests import processes

TEMPLATE = processes.PROJECT_ROOT / "docker" / "ecs" / "worker-scaling.yaml"
REGION = "eu-west-1"
NAMESPACE = "Payments/Celery"
PARAMETERS = {
    "ClusterName": "payments",
    "WorkerServiceName": "worker",
    "Image": "registry.example.com/payments:0.1.0",
    "Subnets": "subnet-12345678",
    "SecurityGroup": "sg-12345678",
    "SecretsArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:payments-AbCdEf",
    "AlarmEmail": "oncall@example.com",
}


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto_server on a free loopback port, and the environment that points boto3 at it."""
    directory = tmp_path_factory.mktemp("moto")
    port = processes.free_port()
    server = processes.spawn(
        [str(processes.BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        directory / "moto.log",
    )
    try:
        processes.wait_for_port(port, server)
        yield {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }
    finally:
        processes.stop(server)


def client(aws: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=aws["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_cfn_lint_accepts_the_template():
    result = subprocess.run(
        [str(processes.BIN / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True
    )
    assert (result.returncode, result.stdout) == (0, "")


def resolve(value: Any, refs: dict[str, Any]) -> Any:
    """The template's Ref and Fn::Sub, for the parameters and resources these tests create."""
    if isinstance(value, dict) and value.keys() == {"Ref"}:
        return refs[value["Ref"]]
    if isinstance(value, dict) and value.keys() == {"Fn::Sub"}:
        return re.sub(r"\$\{(\w+)\}", lambda m: str(refs[m[1]]), value["Fn::Sub"])
    if isinstance(value, dict):
        return {key: resolve(item, refs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, refs) for item in value]
    return value


def test_the_alarm_and_the_scaling_policy_land_as_written(aws):
    # moto's CloudFormation does not create alarms or scaling policies, so each resource's
    # properties go to its own API, which boto3 validates against AWS's service model.
    resources = yaml.safe_load(TEMPLATE.read_text())["Resources"]
    defaults = {
        name: spec["Default"]
        for name, spec in yaml.safe_load(TEMPLATE.read_text())["Parameters"].items()
        if "Default" in spec
    }
    refs: dict[str, Any] = {**defaults, **PARAMETERS}
    refs["BacklogAlarmTopic"] = client(aws, "sns").create_topic(Name="payments-backlog")["TopicArn"]
    cloudwatch = client(aws, "cloudwatch")
    autoscaling = client(aws, "application-autoscaling")
    ecs = client(aws, "ecs")  # the worker service the policy scales
    ecs.create_cluster(clusterName="payments")
    ecs.register_task_definition(
        family="worker",
        containerDefinitions=[{"name": "worker", "image": "payments", "memory": 512}],
    )
    ecs.create_service(cluster="payments", serviceName="worker", taskDefinition="worker")

    cloudwatch.put_metric_alarm(**resolve(resources["PaymentsBacklogAlarm"]["Properties"], refs))
    target = resolve(resources["WorkerScalableTarget"]["Properties"], refs)
    autoscaling.register_scalable_target(
        **{
            **target,
            "MinCapacity": int(target["MinCapacity"]),
            "MaxCapacity": int(target["MaxCapacity"]),
        }
    )
    policy_properties = dict(resources["WorkerBacklogTracking"]["Properties"])
    # CloudFormation names the target; the API takes its three keys instead.
    assert policy_properties.pop("ScalingTargetId") == {"Ref": "WorkerScalableTarget"}
    policy = resolve(policy_properties, refs)
    configuration = policy["TargetTrackingScalingPolicyConfiguration"]
    configuration["TargetValue"] = float(configuration["TargetValue"])
    autoscaling.put_scaling_policy(
        **policy,
        ServiceNamespace=target["ServiceNamespace"],
        ResourceId=target["ResourceId"],
        ScalableDimension=target["ScalableDimension"],
    )

    [alarm] = cloudwatch.describe_alarms(AlarmNames=["payments-queue-backlog-over-100"])[
        "MetricAlarms"
    ]
    assert (alarm["Namespace"], alarm["MetricName"]) == (NAMESPACE, "Backlog")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "charges"}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 100)
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 300  # over 100 for 5 minutes
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]  # every minute of the 5
    assert alarm["AlarmActions"] == [refs["BacklogAlarmTopic"]]
    [registered] = autoscaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert registered["ResourceId"] == "service/payments/worker"
    assert (registered["MinCapacity"], registered["MaxCapacity"]) == (3, 12)
    [stored] = autoscaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    tracking = stored["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 4
    metric = tracking["CustomizedMetricSpecification"]
    assert (metric["Namespace"], metric["MetricName"]) == (NAMESPACE, "BacklogPerWorker")
    assert metric["Dimensions"] == [{"Name": "QueueName", "Value": "all"}]


def test_the_template_reads_the_metrics_the_command_publishes():
    template = yaml.safe_load(TEMPLATE.read_text())
    published = {d["MetricName"] for d in cloudwatch.metric_data([], running_workers=0)}
    alarm = template["Resources"]["PaymentsBacklogAlarm"]["Properties"]
    policy = template["Resources"]["WorkerBacklogTracking"]["Properties"]
    tracked = policy["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    assert {alarm["MetricName"], tracked["MetricName"]} <= published
    assert template["Parameters"]["Namespace"]["Default"] == NAMESPACE


@pytest.mark.integration
def test_publish_queue_metrics_puts_the_backlog_into_cloudwatch(aws, transactional_db, tmp_path):
    # Given: 3 charges waiting and 1 delivered to a consumer that has not acked it, 1 email
    # waiting, and committed outbox rows not yet published (2 charges, 1 email). No worker.
    with processes.redis_server(tmp_path) as broker_url, Connection(broker_url) as connection:
        for _ in range(4):
            celery_app.send_task(task_names.CHARGE_PAYMENT, args=["1"], connection=connection)
        celery_app.send_task(task_names.SEND_NOTIFICATION, args=["1"], connection=connection)
        assert connection.default_channel.basic_get("charges", no_ack=False) is not None
        for name in (
            task_names.CHARGE_PAYMENT,
            task_names.CHARGE_PAYMENT,
            task_names.SEND_NOTIFICATION,
        ):
            OutboxMessage.objects.create(task_name=name, args=["1"])

        # When
        result = subprocess.run(
            [str(processes.BIN / "python"), "manage.py", "publish_queue_metrics", "--once"],
            cwd=processes.PROJECT_ROOT,
            env={**os.environ, **processes.test_environment(broker_url), **aws},
            capture_output=True,
            text=True,
            timeout=60,
        )

    # Then
    assert result.returncode == 0, result.stderr
    cloudwatch = client(aws, "cloudwatch")

    def latest(metric: str, queue: str) -> float:
        now = datetime.now(UTC)
        points = cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName=metric,
            Dimensions=[{"Name": "QueueName", "Value": queue}],
            StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=1),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        assert len(points) == 1, (metric, queue, points)
        return float(points[0]["Maximum"])

    assert latest("Backlog", "charges") == 3 + 1 + 2
    assert latest("Backlog", "notifications") == 1 + 1
    assert latest("Backlog", "maintenance") == 0
    assert latest("Backlog", "all") == 8
    assert latest("RunningWorkers", "all") == 0
    assert latest("BacklogPerWorker", "all") == 8  # no worker: the whole backlog
