"""The service as `make up` runs it, started for a benchmark: its own database and broker."""

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from tests import processes

DATABASE = "payments_bench"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
# What `make up` runs: two workers with two pool processes each, gunicorn from its config.
# Benchmarks run against Stripe's pace (latency, rate limits) unless told otherwise: a figure
# measured against an instant, unlimited fake says nothing about the sale.
FAKESTRIPE_PROFILE = os.environ.get("FAKESTRIPE_PROFILE", "live")
WORKERS = 2
CONCURRENCY = 2


def recreate_database() -> None:
    """A fresh, migrated bench database (never the developer's own)."""
    from django.db import connection

    connection.close()  # this process's own session is about to be terminated
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            [DATABASE],
        )
        db.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DATABASE)))
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    subprocess.run(
        [str(processes.BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=processes.PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": DATABASE_URL},
        check=True,
    )


@dataclass
class BenchStack:
    directory: Path
    env: dict[str, str]
    web_url: str = ""
    stripe_url: str = ""
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    beat: subprocess.Popen[bytes] | None = None
    monitor: subprocess.Popen[bytes] | None = None
    web: subprocess.Popen[bytes] | None = None

    def start_workers(self, count: int = WORKERS, concurrency: int = CONCURRENCY) -> None:
        names = [f"worker{number}" for number in range(1, count + 1)]
        for name in names:
            self.workers[name] = processes.celery_worker(
                name, self.env, self.directory, concurrency=concurrency
            )
        wait_for_log([self.directory / f"{name}.log" for name in names], "ready.", timeout=90)

    def start_worker(self, name: str, concurrency: int) -> None:
        self.workers[name] = processes.celery_worker(
            name, self.env, self.directory, concurrency=concurrency
        )
        wait_for_log([self.directory / f"{name}.log"], "ready.", timeout=90)

    def start_beat(self) -> None:
        self.beat = processes.celery_beat("beat", self.env, self.directory)

    def start_monitor(self) -> None:
        """`manage.py celery_monitor`, which also restores a dead worker's messages."""
        self.monitor = processes.spawn(
            [
                str(processes.BIN / "python"),
                "manage.py",
                "celery_monitor",
                "--port",
                str(processes.free_port()),
            ],
            self.directory / "monitor.log",
            self.env,
        )

    def kill_worker(self, name: str) -> None:
        """kill -9 the worker and its pool at once, as a lost host would go."""
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers.pop(name).wait()

    def stop_workers(self) -> None:
        for worker in self.workers.values():
            processes.stop(worker, timeout=60)
        self.workers.clear()


def wait_for_log(paths: list[Path], text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(path.exists() and text in path.read_text(errors="replace") for path in paths):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{text!r} not in every one of {paths} within {timeout} s")


def broker_for(kind: str, directory: Path, cleanup: ExitStack) -> str:
    if kind == "rabbitmq":
        node = processes.RabbitNode()
        node.start()
        cleanup.callback(node.stop)
        return node.url
    return cleanup.enter_context(processes.redis_server(directory, appendonly=True))


@contextmanager
def running(
    directory: Path,
    *,
    broker: str = "redis",
    workers: int = WORKERS,
    concurrency: int = CONCURRENCY,
    env: dict[str, str] | None = None,
) -> Iterator[BenchStack]:
    """Broker, fake Stripe, gunicorn and workers on free ports, against the bench database."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "mail").mkdir(exist_ok=True)
    with ExitStack() as cleanup:
        stack = BenchStack(
            directory,
            {
                "DATABASE_URL": DATABASE_URL,
                "CELERY_BROKER_URL": broker_for(broker, directory, cleanup),
                "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                "EMAIL_FILE_PATH": str(directory / "mail"),
                "LOG_LEVEL": "WARNING",
                # The benchmark's one client offers up to 200 requests/s: above the
                # per-key limit, which is not what is measured.
                "API_RATE_LIMIT_REQUESTS": "100000",
                **(env or {}),
            },
        )
        stack.stripe_url = cleanup.enter_context(
            processes.fakestripe(directory, profile=FAKESTRIPE_PROFILE)
        )
        stack.env["STRIPE_API_BASE"] = stack.stripe_url
        stack.web_url, stack.web = cleanup.enter_context(gunicorn(stack.env, directory))
        if workers:
            stack.start_workers(workers, concurrency)
        cleanup.callback(stack.stop_workers)
        cleanup.callback(lambda: stack.beat and processes.stop(stack.beat))
        cleanup.callback(lambda: stack.monitor and processes.stop(stack.monitor))
        yield stack


@contextmanager
def gunicorn(env: dict[str, str], directory: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """gunicorn with the project's own config file, as `make up` starts it."""
    port = processes.free_port()
    process = processes.spawn(
        [
            str(processes.BIN / "gunicorn"),
            "-c",
            "config/gunicorn.py",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        directory / "gunicorn.log",
        {**env, "PROMETHEUS_MULTIPROC_DIR": str(directory / "prometheus")},
    )
    (directory / "prometheus").mkdir(exist_ok=True)
    try:
        processes.wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        processes.stop(process)
