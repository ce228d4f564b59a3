"""`manage.py flower` against real workers: stateless, read-only, behind basic auth."""

import os
import socket
import subprocess
from collections.abc import Iterator

import pytest
import requests

from tests import processes
from tests.integration.conftest import Stack, post_payment, wait_for, wait_for_final_status

pytestmark = pytest.mark.integration

CREDENTIALS = ("flower", "flower-test-password")
HOSTNAME = socket.gethostname()


@pytest.fixture(scope="module")
def flower(stack: Stack) -> Iterator[str]:
    port = processes.free_port()
    env = {
        **processes.test_environment(os.environ["CELERY_BROKER_URL"]),
        "FLOWER_BASIC_AUTH": ":".join(CREDENTIALS),
    }
    process = processes.spawn(
        [str(processes.BIN / "python"), "manage.py", "flower", "--port", str(port)],
        stack.directory / "flower.log",
        env,
    )
    try:
        processes.wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        processes.stop(process)


def api(flower: str, path: str, **kwargs: object) -> requests.Response:
    return requests.get(f"{flower}{path}", auth=CREDENTIALS, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_flower_sees_both_workers_and_a_finished_charge(flower, stack, merchant_session):
    workers = wait_for(
        lambda: (
            (names := set(api(flower, "/api/workers", params={"refresh": "1"}).json()))
            >= {f"worker1@{HOSTNAME}", f"worker2@{HOSTNAME}"}
            and names
        )
    )
    payment_id = post_payment(stack.web_url, merchant_session).json()["id"]
    wait_for_final_status(payment_id)

    def finished_charge() -> dict[str, object] | None:
        tasks = api(flower, "/api/tasks", params={"taskname": "payments.charge_payment"}).json()
        return next((t for t in tasks.values() if t["state"] == "SUCCESS"), None)

    task = wait_for(finished_charge)
    assert {f"worker1@{HOSTNAME}", f"worker2@{HOSTNAME}"} <= workers
    assert task["worker"] in workers
    assert payment_id in task["args"]  # Flower shows the args' repr: ids only


def test_flower_needs_its_password_and_controls_nothing(flower, stack):
    assert requests.get(f"{flower}/api/workers", timeout=10).status_code == 401
    assert (
        requests.get(f"{flower}/api/workers", auth=("flower", "wrong"), timeout=10).status_code
        == 401
    )

    shutdown = requests.post(
        f"{flower}/api/worker/shutdown/worker1@{HOSTNAME}", auth=CREDENTIALS, timeout=10
    )
    revoke = requests.post(f"{flower}/api/task/revoke/some-task-id", auth=CREDENTIALS, timeout=10)

    assert (shutdown.status_code, revoke.status_code) == (403, 403)
    assert all(worker.poll() is None for worker in stack.workers)


def test_flower_refuses_to_start_without_basic_auth_when_debug_is_off(tmp_path):
    result = subprocess.run(
        [str(processes.BIN / "python"), "manage.py", "flower", "--port", "0"],
        cwd=processes.PROJECT_ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "FLOWER_BASIC_AUTH"},
            "DEBUG": "False",
            "SECRET_KEY": "flower-test-" + "x" * 40,
            "STRIPE_API_KEY": "sk_test_flower",
            "STRIPE_WEBHOOK_SECRET": "whsec_flower",
            "API_KEY_HASH_SECRET": "flower-test-api-key-hash-secret",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH" in result.stderr
