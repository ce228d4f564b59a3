"""`make compose-chaos`: the compose stack under Podman, the chaos load through its published
web port, and real container faults (`podman kill -s KILL`, `podman restart`) under it; the
chaos suite's checker then finds nothing lost, charged twice or left unfinished."""

import os
import time

import pytest

from tests.chaos.runner import run_scenario
from tests.containers.compose_stack import running_compose_stack
from tests.containers.nemesis import Restart, container_faults
from tests.containers.report import record

pytestmark = [pytest.mark.containers, pytest.mark.timeout(1500)]

FAULTS = [
    "SIGKILL worker mid-task",
    "restart {broker}",
    "SIGKILL beat leader",
    "restart PostgreSQL",
]


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_nothing_lost_or_charged_twice_when_containers_die(broker, compose_database, tmp_path):
    started = time.monotonic()
    restarts: list[Restart] = []
    with running_compose_stack(broker, tmp_path) as compose:
        compose_database(compose)
        report = run_scenario(
            f"containers_{broker}",
            compose.chaos_stack(),
            container_faults(compose, restarts),
            count=int(os.environ.get("COMPOSE_CHAOS_N", 120)),
        )
    record(compose, report, restarts, time.monotonic() - started)

    assert report.violations() == []
    assert report.in_database == report.accepted == report.submitted
    assert report.refunds_accepted > 0
    assert report.webhooks_delivered > 0
    assert [r.fault for r in restarts] == [f.format(broker=broker) for f in FAULTS]
    assert {"web", "celery-worker", "celery-charges"} <= {
        name.split("_")[1] for name in compose.start_to_healthy
    }
