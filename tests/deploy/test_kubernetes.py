"""docker/k8s: every overlay rendered by kustomize (kubectl's) and validated against the
Kubernetes 1.31 schemas (kubernetes-validate, strict) and KEDA's (cloudcoil's models of its
CRDs), then checked for what issue 9 asks. Nothing is applied: there is no cluster here."""

import re
import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject
from prometheus_client import CollectorRegistry

from config.celery import app as celery_app
from config.queues import WORK_QUEUES
from monitoring.exporter import StateMetrics
from tests.processes import PROJECT_ROOT

K8S_DIR = PROJECT_ROOT / "docker" / "k8s"
KUBERNETES_VERSION = "1.31.0"
OVERLAYS = ["redis", "rabbitmq"]
ZONE = "topology.kubernetes.io/zone"


def render(path: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with kustomize) is missing: see scripts/system_packages.sh"
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S_DIR / path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def manifests(request) -> list[dict[str, Any]]:
    return render(f"overlays/{request.param}")


def find(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("path", ["base", *(f"overlays/{name}" for name in OVERLAYS)])
def test_every_manifest_validates_against_the_pinned_schemas(path):
    for manifest in render(path):
        if manifest["kind"] == "ScaledObject":
            # Strict: a field KEDA does not know (or a wrong type) changes the round trip.
            parsed = ScaledObject.model_validate(manifest)
            assert parsed.model_dump(by_alias=True, exclude_unset=True) == manifest
        else:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_three_workers_spread_over_zones(manifests):
    worker = find(manifests, "Deployment", "worker")
    pod = worker["spec"]["template"]["spec"]

    assert worker["spec"]["replicas"] == 3
    preferred = pod["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert [term["podAffinityTerm"]["topologyKey"] for term in preferred] == [ZONE]
    assert [c["topologyKey"] for c in pod["topologySpreadConstraints"]] == [ZONE]


WORKERS = ("worker", "charges-worker")


def consumed_queues(worker: dict[str, Any]) -> set[str]:
    command = container(worker)["command"]
    return set(command[command.index("-Q") + 1].split(","))


def test_the_workers_together_consume_every_queue_and_charges_alone_have_their_own(manifests):
    queues = {name: consumed_queues(find(manifests, "Deployment", name)) for name in WORKERS}

    assert queues["charges-worker"] == {"charges"}
    assert queues["worker"] | queues["charges-worker"] == set(WORK_QUEUES)
    assert not queues["worker"] & queues["charges-worker"]


def test_the_web_outweighs_the_workers_for_cpu(manifests):
    def cpu_request(name: str) -> float:
        cpu = container(find(manifests, "Deployment", name))["resources"]["requests"]["cpu"]
        return float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)

    for worker in WORKERS:
        assert cpu_request("web") >= 4 * cpu_request(worker)


@pytest.mark.parametrize("name", WORKERS)
def test_scaling_down_never_kills_a_running_task(manifests, name):
    worker = find(manifests, "Deployment", name)
    pod = worker["spec"]["template"]["spec"]
    pre_stop = " ".join(container(worker)["lifecycle"]["preStop"]["exec"]["command"])

    assert pod["terminationGracePeriodSeconds"] > celery_app.conf.task_time_limit + 15
    assert "cancel_consumer" in pre_stop
    assert all(queue in pre_stop for queue in consumed_queues(worker))


def test_probes_use_the_services_own_health_checks(manifests):
    web = container(find(manifests, "Deployment", "web"))

    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for name in WORKERS:
        worker = container(find(manifests, "Deployment", name))
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert worker[probe]["exec"]["command"] == ["python", "manage.py", "worker_alive"]
    flower = container(find(manifests, "Deployment", "flower"))
    assert flower["livenessProbe"]["httpGet"]["path"] == "/healthcheck"


def test_beat_twice_and_budgets_for_every_replicated_process(manifests):
    assert find(manifests, "Deployment", "beat")["spec"]["replicas"] == 2
    budgets = {
        m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]: m["spec"]
        for m in manifests
        if m["kind"] == "PodDisruptionBudget"
    }
    assert {"web", "worker", "charges-worker", "beat"} <= budgets.keys()
    for name, deployment in (
        (m["metadata"]["name"], m) for m in manifests if m["kind"] == "Deployment"
    ):
        if deployment["spec"]["replicas"] > 1:
            assert name in budgets, f"{name} has replicas and no PodDisruptionBudget"


def test_every_pod_runs_as_non_root_with_limits(manifests):
    for manifest in manifests:
        if manifest["kind"] not in {"Deployment", "StatefulSet", "Job"}:
            continue
        pod = manifest["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, manifest["metadata"]["name"]
        for each in pod["containers"]:
            assert each["resources"]["limits"]["memory"], manifest["metadata"]["name"]


@pytest.mark.parametrize("name", WORKERS)
def test_keda_scales_the_workers_on_a_backlog_the_monitor_really_exports(manifests, name):
    scaled = find(manifests, "ScaledObject", name)
    deployment = find(manifests, "Deployment", name)
    [trigger] = scaled["spec"]["triggers"]
    query = trigger["metadata"]["query"]
    registry = CollectorRegistry()
    StateMetrics(registry)
    exported = {family.name for family in registry.collect()}

    assert scaled["spec"]["scaleTargetRef"]["name"] == name
    assert trigger["type"] == "prometheus"
    metrics_in_query = set(re.findall(r"([a-zA-Z_:][\w:]*)\{", query))
    assert metrics_in_query == {"celery_queue_backlog"}
    assert metrics_in_query <= exported
    queues = set(re.search(r'queue_name=~"([^"]+)"', query)[1].split("|"))
    assert queues == consumed_queues(deployment)
    assert scaled["spec"]["minReplicaCount"] == deployment["spec"]["replicas"]
    assert trigger["metadata"]["ignoreNullValues"] == "false"
    assert scaled["spec"]["fallback"]["replicas"] >= scaled["spec"]["minReplicaCount"]


def test_each_overlay_brings_its_broker_and_a_redis_that_keeps_its_data(manifests):
    names = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    config = next(m for m in manifests if m["metadata"]["name"].startswith("payments-config"))
    redis = container(find(manifests, "StatefulSet", "redis"))
    flags = dict(zip(redis["args"][::2], redis["args"][1::2], strict=True))

    assert flags["--appendonly"] == "yes"
    assert flags["--appendfsync"] == "everysec"
    assert flags["--maxmemory-policy"] == "noeviction"
    assert redis["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert config["data"]["RATE_LIMIT_REDIS_URL"] == "redis://redis:6379/1"
    if "CELERY_BROKER_URL" in config["data"]:  # overlays/redis: Redis is the broker
        assert config["data"]["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    else:  # overlays/rabbitmq: the URL carries a password, so it is in payments-secrets
        assert find(manifests, "StatefulSet", "rabbitmq")["spec"]["replicas"] == 3
        assert ("PodDisruptionBudget", "rabbitmq") in names
