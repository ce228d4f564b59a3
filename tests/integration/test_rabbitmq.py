"""The same flow on RabbitMQ: quorum queues, publisher confirms, retries, dead letters."""

import subprocess
import time
import uuid

import pytest
import requests
from kombu import Connection

from config.celery import app as celery_app
from config.queues import WORK_QUEUES
from payments import services
from tests import processes
from tests.integration.conftest import api_session, post_payment, wait_for, wait_for_final_status

pytestmark = pytest.mark.integration


def rabbitmqctl(*args: str) -> str:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, check=True
    ).stdout


def queue_table(vhost: str) -> dict[str, dict[str, str]]:
    out = rabbitmqctl("list_queues", "-p", vhost, "name", "type", "messages", "--no-table-headers")
    rows = [line.split("\t") for line in out.strip().splitlines() if line.strip()]
    return {row[0]: {"type": row[1], "messages": row[2]} for row in rows}


@pytest.fixture(scope="module")
def rabbit_stack(django_db_setup, tmp_path_factory):
    """Fake Stripe, gunicorn, a worker and beat, all on a RabbitMQ vhost of their own."""
    vhost = f"payments-test-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    directory = tmp_path_factory.mktemp("rabbit")
    (directory / "mail").mkdir()
    amqp_url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    env = {
        **processes.test_environment(amqp_url),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(directory / "mail"),
    }
    worker = beat = None
    try:
        with processes.fakestripe(directory, profile="zero") as stripe_url:
            env["STRIPE_API_BASE"] = stripe_url
            worker = processes.celery_worker(
                "rabbit-worker",
                env,
                directory,
                extra_args=("--include", "tests.integration.poison"),
            )
            # Publishes retries when they are due (config/retries.py).
            beat = processes.celery_beat("beat", env, directory)
            with processes.gunicorn(env, directory, workers=1) as web_url:
                log = directory / "rabbit-worker.log"
                wait_for(lambda: log.exists() and "ready." in log.read_text(), timeout=60)
                yield {"vhost": vhost, "amqp": amqp_url, "web": web_url, "stripe": stripe_url}
    finally:
        for process in (worker, beat):
            if process is not None:
                processes.stop(process)
        rabbitmqctl("delete_vhost", vhost)


def pay(stack, transactional_db) -> str:
    _, key = services.create_api_client(name=f"rabbit-{uuid.uuid4().hex[:6]}")
    response = post_payment(stack["web"], api_session(key), amount=900, currency="eur")
    assert response.status_code == 202
    return str(response.json()["id"])


def test_work_queues_are_quorum_queues_with_a_dead_letter_queue(rabbit_stack, transactional_db):
    payment_id = pay(rabbit_stack, transactional_db)

    assert wait_for_final_status(payment_id).status == "succeeded"
    queues = queue_table(rabbit_stack["vhost"])
    assert {queues[name]["type"] for name in WORK_QUEUES} == {"quorum"}
    assert queues["dead_letters"]["type"] == "quorum"


def test_retries_from_postgres_work_on_quorum_queues(rabbit_stack, transactional_db):
    faults = f"{rabbit_stack['stripe']}/_fake/faults"
    requests.post(faults, json={"error_rate": 1.0}, timeout=5).raise_for_status()
    try:
        payment_id = pay(rabbit_stack, transactional_db)
        time.sleep(3)  # the first attempts fail and wait for their next attempt
    finally:
        requests.delete(faults, timeout=5).raise_for_status()

    assert wait_for_final_status(payment_id, timeout=60).status == "succeeded"


def test_a_poison_message_is_dead_lettered_after_the_delivery_limit(rabbit_stack, transactional_db):
    with Connection(rabbit_stack["amqp"]) as connection:
        celery_app.send_task("chaos.poison", queue="maintenance", connection=connection)

    # Meanwhile other work still flows.
    assert wait_for_final_status(pay(rabbit_stack, transactional_db), timeout=60).status == (
        "succeeded"
    )
    wait_for(lambda: queue_table(rabbit_stack["vhost"])["dead_letters"]["messages"] == "1", 90)
    assert queue_table(rabbit_stack["vhost"])["maintenance"]["messages"] == "0"
