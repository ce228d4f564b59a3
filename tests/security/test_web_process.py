"""The web process as deployed (gunicorn -c config/gunicorn.py): its own errors, slow
clients, production headers, and no key in any process's log however it is sent."""

import base64
import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from payments import services
from payments.api_keys import KEY_PATTERN
from tests import processes
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration

PRODUCTION_ENV = {
    "DEBUG": "False",
    "SECRET_KEY": "prod-like-" + "k" * 54,
    "STRIPE_API_KEY": "sk_test_" + "p" * 24,
    "STRIPE_WEBHOOK_SECRET": "whsec_" + "w" * 32,
    "STRIPE_WEBHOOK_SECRETS": "whsec_" + "w" * 32,
    "API_KEY_HASH_SECRET": "hash-secret-" + "h" * 32,
    "ALLOWED_HOSTS": "127.0.0.1,payments.example.com",
}


@pytest.fixture(scope="module")
def web(
    private_broker, django_db_setup, django_db_blocker, tmp_path_factory
) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("web")
    with django_db_blocker.unblock():
        env = {
            **processes.test_environment(private_broker),
            "PROMETHEUS_MULTIPROC_DIR": str(directory / "prometheus"),
            "RATE_LIMIT_REDIS_URL": private_broker,
            "OTEL_SPANS_FILE": str(directory / "spans-web.jsonl"),
            "LOG_LEVEL": "DEBUG",
        }
    with processes.gunicorn(env, directory, config_file=True) as url:
        yield url, directory


def raw_request(url: str, payload: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(payload)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-%d: 1\r\n" % n for n in range(120))
            + b"\r\n",
            431,
        ),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"BR0KEN\r\n\r\n", 400),
    ],
    ids=["request line too long", "too many headers", "header too long", "garbage"],
)
def test_gunicorns_own_errors_are_problem_json(web, payload, status):
    answer = raw_request(web[0], payload)

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status}".encode())
    assert b"Content-Type: application/problem+json" in head
    assert f'"status": {status}'.encode() in body


def test_a_body_over_the_limit_is_413_before_it_is_read(web):
    answer = raw_request(
        web[0],
        b"POST /api/v1/payments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000000\r\nConnection: close\r\n\r\n{",
    )

    assert answer.startswith(b"HTTP/1.1 413")
    assert b"application/problem+json" in answer


def test_slow_bodies_do_not_starve_the_health_check(web):
    host, port = web[0].removeprefix("http://").split(":")
    slow = []
    for _ in range(8):
        connection = socket.create_connection((host, int(port)))
        connection.sendall(
            b"POST /api/v1/payments HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
        )
        slow.append(connection)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(1):
            for connection in slow:
                # The server may give up on a body this slow: that is fine.
                with contextlib.suppress(OSError):
                    connection.sendall(b" ")

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        answers = [requests.get(f"{web[0]}/healthz", timeout=10).status_code for _ in range(5)]
    finally:
        stop.set()
        trickler.join()
        for connection in slow:
            connection.close()

    assert answers == [200] * 5


def test_keys_sent_every_wrong_way_reach_no_log_and_no_span(web, transactional_db):
    url, directory = web
    _, good_key = services.create_api_client(name="careless")
    wrong_key = "psk_" + "W" * 43
    basic = base64.b64encode(f"{good_key}:".encode()).decode()
    attempts = [
        # curl -u key: (Stripe's docs), as user and as password
        {"headers": {"Authorization": f"Basic {basic}"}},
        {
            "headers": {
                "Authorization": "Basic " + base64.b64encode(f"x:{good_key}".encode()).decode()
            }
        },
        {"params": {"api_key": good_key}},
        {"params": {"key": wrong_key, "status": "succeeded"}},
        {"path": f"/api/v1/payments/{good_key}"},
        {"path": f"/api/v1/{good_key}"},
        {"headers": {"Authorization": f"Bearer {wrong_key}"}},
        {"headers": {"Authorization": f"Token {good_key}"}},
        {"headers": {"X-Api-Key": good_key}},
        {"headers": {"Cookie": f"api_key={good_key}"}},
        {"headers": {"Referer": f"https://shop.example/?key={good_key}"}},
        {"headers": {"Host": good_key}},
        {"method": "POST", "json": {"api_key": good_key}},
        {"method": "POST", "headers": {"Idempotency-Key": good_key}},
    ]
    for attempt in attempts:
        requests.request(
            attempt.get("method", "GET"),
            url + attempt.get("path", "/api/v1/payments"),
            params=attempt.get("params"),
            json=attempt.get("json"),
            headers=attempt.get("headers", {}),
            timeout=10,
        )
    # An over-long request line quoting a key: gunicorn logs the line it refused.
    raw_request(url, b"GET /?k=" + good_key.encode() + b"a" * 5000 + b" HTTP/1.1\r\n\r\n")
    wait_for(lambda: (directory / "gunicorn.log").stat().st_size > 0)
    time.sleep(1)  # the access log is written after each answer

    logs = {path.name: path.read_text(errors="replace") for path in directory.glob("*.log*")}
    logs |= {path.name: path.read_text() for path in directory.glob("spans-*.jsonl")}
    assert logs["gunicorn.log"].count('"GET /api/v1/payments') >= 5  # the lines are there
    for name, text in logs.items():
        for key in (good_key, wrong_key, good_key[4:]):
            assert key not in text, f"{name} holds a key"
        assert not KEY_PATTERN.search(text), f"{name} holds something shaped like a key"


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = subprocess.run(
        [
            str(processes.BIN / "python"),
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        cwd=processes.PROJECT_ROOT,
        env={**processes.os.environ, **PRODUCTION_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.fixture(scope="module")
def production_web(
    private_broker, django_db_setup, django_db_blocker, tmp_path_factory
) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("production")
    with django_db_blocker.unblock():
        env = {
            **processes.test_environment(private_broker),
            **PRODUCTION_ENV,
            "PROMETHEUS_MULTIPROC_DIR": str(directory / "prometheus"),
            "RATE_LIMIT_REDIS_URL": private_broker,
        }
    with processes.gunicorn(env, directory, workers=1, config_file=True) as url:
        yield url


def test_production_answers_carry_hsts_csp_no_store_and_secure_cookies(production_web):
    behind_proxy = {"X-Forwarded-Proto": "https"}

    api = requests.get(f"{production_web}/api/v1/payments", headers=behind_proxy, timeout=10)
    admin = requests.get(f"{production_web}/admin/login/", headers=behind_proxy, timeout=10)
    docs = requests.get(f"{production_web}/api/docs/", headers=behind_proxy, timeout=10)
    plain = requests.get(f"{production_web}/api/v1/payments", allow_redirects=False, timeout=10)
    probe = requests.get(f"{production_web}/healthz", allow_redirects=False, timeout=10)

    assert api.status_code == 401
    assert "no-store" in api.headers["Cache-Control"]
    for answer in (api, admin, docs):
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert admin.status_code == 200 and docs.status_code == 200
    assert "Secure" in admin.headers["Set-Cookie"] and "csrftoken" in admin.headers["Set-Cookie"]
    assert (plain.status_code, plain.headers["Location"]) == (
        301,
        f"https://{production_web.removeprefix('http://')}/api/v1/payments",
    )
    assert probe.status_code == 200  # probes come over plain HTTP
