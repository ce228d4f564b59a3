"""docker/compose.yaml (+ compose.rabbitmq.yaml): resolved by docker-compose, then checked
for the guide's properties. Nothing here runs a container: this machine has no Docker engine."""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

from config.celery import app as celery_app
from config.queues import WORK_QUEUES
from payments.gateways.stripe.webhooks import HANDLED_EVENT_TYPES
from tests.processes import PROJECT_ROOT

DOCKER_DIR = PROJECT_ROOT / "docker"
# What docker/.env would hold; distinctive so a leak into a resolved value is obvious.
SECRETS = {
    "SECRET_KEY": "compose-test-secret-key-0123456789abcdef",
    "POSTGRES_PASSWORD": "compose-test-postgres",
    "STRIPE_API_KEY": "sk_test_compose",
    "STRIPE_WEBHOOK_SECRET": "whsec_compose",
    "API_KEY_HASH_SECRET": "compose-test-api-key-hash-secret",
    "FLOWER_BASIC_AUTH": "flower:compose-test",
    "GRAFANA_ADMIN_PASSWORD": "compose-test-grafana",
    "RABBITMQ_PASSWORD": "compose-test-rabbitmq",
}
APP_SERVICES = {
    "migrate", "web", "celery-worker", "celery-charges", "celery-beat", "monitor", "flower",
    "fakestripe",
}  # fmt: skip
ONE_SHOT = {"migrate"}
# The collector's image is built FROM scratch: no shell or binary to run a check with.
NO_HEALTHCHECK_POSSIBLE = {"otel-collector"}
LONG_RUNNING_RESTART = {"unless-stopped", "always"}


def resolve(*files: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    docker_compose = shutil.which("docker-compose")
    assert docker_compose, (
        "docker-compose is missing: `make install` runs scripts/system_packages.sh"
    )
    arguments = [docker_compose, "--project-directory", str(DOCKER_DIR)]
    for name in files:
        arguments += ["-f", str(DOCKER_DIR / name)]
    return subprocess.run(
        [*arguments, "config"],
        capture_output=True,
        text=True,
        # Only what compose needs: no DOCKER_HOST, no developer's variables.
        env={"PATH": "/usr/bin:/bin", **(env if env is not None else SECRETS)},
        timeout=60,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    result = resolve("compose.yaml")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def compose_rabbitmq() -> dict[str, Any]:
    result = resolve("compose.yaml", "compose.rabbitmq.yaml")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def seconds(duration: str) -> float:
    """Compose durations: 170s, 2m50s, 1h."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts, duration
    return sum(float(n) * units[unit] for n, unit in parts)


@pytest.mark.parametrize("files", [["compose.yaml"], ["compose.yaml", "compose.rabbitmq.yaml"]])
def test_refuses_to_resolve_without_the_secrets(files):
    result = resolve(*files, env={})

    assert result.returncode != 0
    assert "set SECRET_KEY in docker/.env" in result.stderr or "docker/.env" in result.stderr


def test_redis_keeps_its_queue_on_a_named_volume_and_never_evicts(compose):
    redis = compose["services"]["redis"]
    command = redis["command"]
    flags = dict(zip(command[1::2], command[2::2], strict=False))

    assert command[0] == "redis-server"
    assert flags["--appendonly"] == "yes"
    assert flags["--appendfsync"] == "everysec"
    assert flags["--maxmemory-policy"] == "noeviction"
    assert flags["--maxmemory"] != "0"
    assert "redis-data:/data" in [_volume(v) for v in redis["volumes"]]
    assert "redis-data" in compose["volumes"]


def test_postgres_has_a_volume_and_a_health_check(compose):
    postgres = compose["services"]["postgres"]

    assert "postgres-data:/var/lib/postgresql/data" in [_volume(v) for v in postgres["volumes"]]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]


@pytest.mark.parametrize("name", ["celery-worker", "celery-charges"])
def test_two_workers_that_outlive_the_task_hard_time_limit_when_stopped(compose, name):
    worker = compose["services"][name]

    assert worker["deploy"]["replicas"] == 2
    assert seconds(worker["stop_grace_period"]) > celery_app.conf.task_time_limit
    assert worker.get("stop_signal", "SIGTERM") == "SIGTERM"  # Celery's warm shutdown
    # worker_alive's rule, in the shell: the heartbeat file at most its max age old.
    kind, check = worker["healthcheck"]["test"]
    check = check.replace("$$", "$")  # compose's escape for a literal $
    assert kind == "CMD-SHELL"
    assert 'stat -c %Y "$CELERY_WORKER_HEARTBEAT_FILE"' in check
    assert f"-le {settings.CELERY_WORKER_HEARTBEAT_MAX_AGE_SECONDS:.0f}" in check
    assert worker["environment"]["CELERY_WORKER_HEARTBEAT_FILE"]


def test_charges_have_workers_of_their_own_and_every_queue_is_served(compose):
    def queues(name: str) -> set[str]:
        command = compose["services"][name]["command"]
        return set(command[command.index("-Q") + 1].split(","))

    assert queues("celery-charges") == {"charges"}
    assert queues("celery-worker") | queues("celery-charges") == set(WORK_QUEUES)


def test_the_fake_stripe_delivers_only_the_events_the_service_acts_on(compose):
    command = compose["services"]["fakestripe"]["command"]
    events = command[command.index("--webhook-events") + 1].split(",")

    assert sorted(events) == sorted(HANDLED_EVENT_TYPES)


def test_the_web_outweighs_the_workers_for_cpu(compose):
    services = compose["services"]

    for worker in ("celery-worker", "celery-charges"):
        assert services["web"]["cpu_shares"] >= 4 * services[worker]["cpu_shares"]


def test_beat_runs_twice_and_the_leader_lock_decides_who_dispatches(compose):
    beat = compose["services"]["celery-beat"]

    assert beat["deploy"]["replicas"] == 2
    assert not {"-S", "--scheduler"} & set(beat["command"])  # the settings' scheduler
    assert settings.CELERY_BEAT_SCHEDULER == "config.beat:LeaderDatabaseScheduler"


def test_every_app_service_waits_for_the_one_shot_migration(compose):
    services = compose["services"]
    migrate = services["migrate"]

    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in APP_SERVICES - ONE_SHOT - {"fakestripe"}:
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


def test_every_service_restarts_checks_its_health_and_has_limits(compose_rabbitmq):
    services = compose_rabbitmq["services"]
    without_healthcheck = set()
    for name, service in services.items():
        expected_restart = {"on-failure"} if name in ONE_SHOT else LONG_RUNNING_RESTART
        assert service.get("restart") in expected_restart, name
        limits = service["deploy"]["resources"]["limits"]
        assert {"cpus", "memory"} <= limits.keys(), name
        # docker-compose prints `disable: true` as the NONE test.
        if service.get("healthcheck", {}).get("test", ["NONE"]) == ["NONE"]:
            without_healthcheck.add(name)
    assert without_healthcheck == ONE_SHOT | NO_HEALTHCHECK_POSSIBLE


def test_one_image_for_every_app_process(compose):
    services = compose["services"]
    images = {services[name]["image"] for name in APP_SERVICES}

    assert images == {"payments:local"}
    assert {services[name]["build"]["dockerfile"] for name in APP_SERVICES} == {"docker/Dockerfile"}
    assert services["flower"]["command"][:3] == ["python", "manage.py", "flower"]
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == SECRETS["FLOWER_BASIC_AUTH"]
    assert all(services[name]["environment"]["DEBUG"] == "False" for name in APP_SERVICES)


def test_the_rabbitmq_override_switches_every_app_service_to_rabbitmq(compose_rabbitmq):
    services = compose_rabbitmq["services"]

    for name in APP_SERVICES - {"fakestripe"}:
        assert services[name]["environment"]["CELERY_BROKER_URL"].startswith("amqp://"), name
    assert services["monitor"]["environment"]["RABBITMQ_MANAGEMENT_URL"].endswith("/api")
    assert "rabbitmq-data:/var/lib/rabbitmq" in [
        _volume(v) for v in services["rabbitmq"]["volumes"]
    ]
    # The override adds to the workers' environment; it does not replace it.
    assert services["celery-worker"]["environment"]["CELERY_WORKER_METRICS_PORT"] == "9809"


def test_mounted_files_exist_and_the_collector_feeds_jaeger(compose):
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = _volume(volume).split(":")[0]
            if source.startswith("/"):
                assert Path(source).exists(), source
    collector = yaml.safe_load((DOCKER_DIR / "otel-collector.yaml").read_text())
    pipeline = collector["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        assert set(pipeline[kind]) <= collector[kind].keys()
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    assert compose["services"]["web"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == (
        "http://otel-collector:4318"
    )
    assert collector["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"


def test_promtool_accepts_the_compose_prometheus_config():
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make install` runs scripts/system_packages.sh"
    result = subprocess.run(
        [promtool, "check", "config", "prometheus.compose.yml"],
        cwd=DOCKER_DIR / "prometheus",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _volume(volume: str | dict[str, str]) -> str:
    """A volume entry as source:target, whichever syntax compose printed."""
    if isinstance(volume, str):
        return re.sub(r":(ro|rw)$", "", volume)
    return f"{volume['source']}:{volume['target']}"


def test_every_published_port_is_on_loopback_only(compose_rabbitmq):
    published = [
        (name, port)
        for name, service in compose_rabbitmq["services"].items()
        for port in service.get("ports", [])
    ]
    assert published
    for name, port in published:
        host_ip = port["host_ip"] if isinstance(port, dict) else port.split(":")[0]
        assert host_ip == "127.0.0.1", (name, port)


def test_images_come_from_variables_that_default_to_the_upstream_names():
    defaults = {
        "postgres": "postgres:16.4-bookworm",
        "redis": "redis:7.2.5-bookworm",
        "rabbitmq": "rabbitmq:3.13.7-management",
        "web": "payments:local",
    }
    built_here = {
        "POSTGRES_IMAGE": "localhost/payments-postgres:x",
        "REDIS_IMAGE": "localhost/payments-redis:x",
        "RABBITMQ_IMAGE": "localhost/payments-rabbitmq:x",
        "PYTHON_IMAGE": "localhost/payments-python:x",
    }
    for env, expected in ((SECRETS, defaults), ({**SECRETS, **built_here}, None)):
        result = resolve("compose.yaml", "compose.rabbitmq.yaml", env=env)
        assert result.returncode == 0, result.stderr
        services = yaml.safe_load(result.stdout)["services"]
        images = {name: services[name]["image"] for name in defaults}
        if expected is not None:
            assert images == expected
        else:
            local = {name: built_here[f"{name.upper()}_IMAGE"] for name in ("postgres", "redis")}
            local["rabbitmq"] = built_here["RABBITMQ_IMAGE"]
            assert images == {**defaults, **local}
            assert services["web"]["build"]["args"]["PYTHON_IMAGE"] == built_here["PYTHON_IMAGE"]


def test_services_not_built_from_debian_packages_sit_behind_a_profile(compose):
    profiled = {name for name, service in compose["services"].items() if service.get("profiles")}
    assert profiled == {"otel-collector", "jaeger", "prometheus", "grafana"}
    assert all(compose["services"][name]["profiles"] == ["observability"] for name in profiled)


def test_app_containers_have_read_only_roots_and_write_only_to_tmpfs_and_volumes(compose):
    services = compose["services"]
    for name in APP_SERVICES:
        assert services[name]["read_only"] is True, name
        assert "/tmp" in services[name]["tmpfs"], name
    assert "mail:/app/var/mail" in [_volume(v) for v in services["celery-worker"]["volumes"]]
    assert "fakestripe-data:/app/var/data" in [
        _volume(v) for v in services["fakestripe"]["volumes"]
    ]
