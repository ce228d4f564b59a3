"""An observed stack: gunicorn (multiprocess metrics), a worker, the monitor, fake Stripe, Redis."""

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings

from tests import processes
from tests.integration.conftest import api_session, post_payment, wait_for

# Secrets the stack runs with: distinctive, so the PII guard can look for them anywhere.
STRIPE_API_KEY = f"sk_test_piiguard{secrets.token_hex(8)}"
STRIPE_WEBHOOK_SECRET = f"whsec_piiguard{secrets.token_hex(8)}"
WORKER_NAME = "observed"

SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text exposition → {(name, labels): value}."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        match = SAMPLE.match(line)
        assert match, f"unparsable metrics line: {line!r}"
        labels = frozenset(LABEL.findall(match["labels"] or ""))
        samples[(match["name"], labels)] = float(match["value"])
    return samples


class Scrape:
    """One scrape of a /metrics endpoint, queried by name and a subset of labels."""

    def __init__(self, url: str) -> None:
        response = requests.get(url, timeout=10)
        response.raise_for_status()
        self.text = response.text
        self.samples = parse_metrics(response.text)

    def value(self, metric: str, /, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels` (0 when none)."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == metric and wanted <= ls)

    def has(self, metric: str, /, **labels: str) -> bool:
        wanted = set(labels.items())
        return any(n == metric and wanted <= ls for (n, ls) in self.samples)


@dataclass
class ObservedStack:
    directory: Path
    broker_url: str
    web_url: str
    stripe_url: str
    monitor_url: str
    worker_metrics_url: str
    heartbeat_file: Path

    def scrape(self, url: str) -> Scrape:
        return Scrape(url)

    def spans(self) -> list[dict[str, Any]]:
        found = []
        for path in self.directory.glob("spans-*.jsonl"):
            found += [json.loads(line) for line in path.read_text().splitlines() if line]
        return found

    def log_files(self) -> list[Path]:
        return sorted(self.directory.glob("*.log"))


def database_url() -> str:
    database = settings.DATABASES["default"]
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


def stack_environment(directory: Path, broker_url: str, stripe_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url,
        "STRIPE_API_BASE": stripe_url,
        "STRIPE_API_KEY": STRIPE_API_KEY,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(directory / "mail"),
        "LOG_FORMAT": "json",
        # DEBUG logs too: the PII guard must hold at the chattiest level.
        "LOG_LEVEL": "DEBUG",
    }


@contextmanager
def gunicorn(env: dict[str, str], directory: Path) -> Iterator[str]:
    """gunicorn with the project's config file: two workers, multiprocess metrics."""
    port = processes.free_port()
    process = processes.spawn(
        [str(processes.BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi:application"],
        directory / "gunicorn.log",
        {
            **env,
            "WEB_PORT": str(port),
            "PROMETHEUS_MULTIPROC_DIR": str(directory / "prometheus-web"),
            "OTEL_SPANS_FILE": str(directory / "spans-web.jsonl"),
        },
    )
    try:
        processes.wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        processes.stop(process)


@contextmanager
def celery_monitor(env: dict[str, str], directory: Path) -> Iterator[str]:
    port = processes.free_port()
    process = processes.spawn(
        [
            str(processes.BIN / "python"),
            "manage.py",
            "celery_monitor",
            "--port",
            str(port),
            "--refresh",
            "0.5",
        ],
        directory / "monitor.log",
        env,
    )
    try:
        processes.wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        processes.stop(process)


@contextmanager
def observed_worker(env: dict[str, str], directory: Path) -> Iterator[tuple[str, Path]]:
    """A worker serving its pool's metrics and refreshing a heartbeat file."""
    port = processes.free_port()
    heartbeat = directory / f"{WORKER_NAME}.alive"
    worker = processes.celery_worker(
        WORKER_NAME,
        {
            **env,
            "PROMETHEUS_MULTIPROC_DIR": str(directory / "prometheus-worker"),
            "CELERY_WORKER_METRICS_PORT": str(port),
            "CELERY_WORKER_HEARTBEAT_FILE": str(heartbeat),
            "CELERY_WORKER_HEARTBEAT_INTERVAL_SECONDS": "0.5",
            "OTEL_SPANS_FILE": str(directory / "spans-worker.jsonl"),
        },
        directory,
    )
    try:
        wait_for(lambda: "ready." in _text(directory / f"{WORKER_NAME}.log"), timeout=60)
        yield f"http://127.0.0.1:{port}/metrics", heartbeat
    finally:
        processes.stop(worker)


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@pytest.fixture(scope="session")
def observed_stack(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ObservedStack]:
    directory = tmp_path_factory.mktemp("observed")
    (directory / "mail").mkdir()
    with (
        processes.redis_server(directory) as broker_url,
        processes.fakestripe(
            directory, "--webhook-secret", STRIPE_WEBHOOK_SECRET, profile="zero"
        ) as stripe_url,
    ):
        env = stack_environment(directory, broker_url, stripe_url)
        with (
            observed_worker(env, directory) as (worker_metrics_url, heartbeat),
            gunicorn(env, directory) as web_url,
            celery_monitor(env, directory) as monitor_url,
        ):
            stack = ObservedStack(
                directory,
                broker_url,
                web_url,
                stripe_url,
                monitor_url,
                worker_metrics_url,
                heartbeat,
            )
            # The monitor sees the worker once a heartbeat arrives (every 2 s).
            wait_for(lambda: Scrape(monitor_url).value("celery_worker_up") == 1, timeout=30)
            yield stack


def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Retry an assertion until it passes: metrics arrive asynchronously, never on a clock."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def pay(stack: ObservedStack, api_key: str, **fields: Any) -> requests.Response:
    fields = {
        "customer_email": "buyer.observed@example.com",
        "description": "observability",
        **fields,
    }
    return post_payment(stack.web_url, api_session(api_key), **fields)


@pytest.fixture
def api_key(transactional_db: None) -> str:
    from payments import services

    # No contact e-mail: a welcome notification would be published by this test process.
    _, raw_key = services.create_api_client(name=f"observed-{secrets.token_hex(4)}")
    return raw_key
