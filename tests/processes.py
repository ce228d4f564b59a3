"""Start and stop the real processes tests need (redis-server, fake Stripe, workers, gunicorn)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from config.queues import WORK_QUEUES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{process.args!r} exited with {process.returncode} before listening"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on {port} within {timeout} s")


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


def spawn(
    args: list[str], log_file: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log = log_file.open("ab")
    return subprocess.Popen(
        args,
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        # Own process group: stop() reaches gunicorn's and Celery's children too.
        start_new_session=True,
    )


@contextmanager
def redis_server(directory: Path, *, appendonly: bool = False) -> Iterator[str]:
    port = free_port()
    process = spawn(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if appendonly else "no",
            "--dir",
            str(directory),
        ],
        directory / "redis.log",
    )
    try:
        wait_for_port(port, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


@contextmanager
def fakestripe(directory: Path, *extra_args: str, profile: str) -> Iterator[str]:
    """The fake Stripe on a free port; `profile` is "zero" (instant) or "live" (Stripe's pace)."""
    port = free_port()
    process = spawn(
        [
            str(BIN / "python"),
            "manage.py",
            "fakestripe",
            "--port",
            str(port),
            "--profile",
            profile,
            *extra_args,
        ],
        directory / "fakestripe.log",
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def celery_worker(
    name: str,
    env: dict[str, str],
    log_dir: Path,
    *,
    concurrency: int = 2,
    extra_args: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    return spawn(
        [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "-n",
            f"{name}@%h",
            "-Q",
            ",".join(WORK_QUEUES),
            "--concurrency",
            str(concurrency),
            "-l",
            "INFO",
            "--without-mingle",
            "--without-gossip",
            *extra_args,
        ],
        log_dir / f"{name}.log",
        env,
    )


@contextmanager
def gunicorn(
    env: dict[str, str], log_dir: Path, *, workers: int = 2, config_file: bool = False
) -> Iterator[str]:
    """`config_file`: with config/gunicorn.py (access log, worker class, error pages);
    the caller must then give it its own PROMETHEUS_MULTIPROC_DIR, which it empties."""
    port = free_port()
    process = spawn(
        [
            str(BIN / "gunicorn"),
            *(["-c", "config/gunicorn.py"] if config_file else []),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            # The config file's thread count when it is used (its worker_connections
            # follow it).
            *([] if config_file else ["--threads", "4"]),
        ],
        log_dir / "gunicorn.log",
        env,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def celery_beat(name: str, env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    return spawn(
        [str(BIN / "celery"), "-A", "config", "beat", "-l", "INFO", "--pidfile", ""],
        log_dir / f"{name}.log",
        env,
    )


def test_environment(broker_url: str) -> dict[str, str]:
    """Environment for a subprocess that must use this test session's database and broker."""
    from django.db import connection

    database = connection.settings_dict
    # The database pytest-django made for this session, whether or not the calling
    # fixture has switched the connection over to it yet.
    name = str(database["NAME"])
    if not name.startswith("test_"):
        name = database.get("TEST", {}).get("NAME") or f"test_{name}"
    return {
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{name}"
        ),
        "CELERY_BROKER_URL": broker_url,
    }


class RabbitNode:
    """A RabbitMQ node of our own (own ports, own data directory), killable and restartable."""

    def __init__(self) -> None:
        # Outside pytest's private (0700) temp tree: the rabbitmq user must reach it.
        self.directory = Path(tempfile.mkdtemp(prefix="payments-rabbit-"))
        self.directory.chmod(0o755)
        self.port = free_port()
        self.name = f"test{self.port}@localhost"
        (self.directory / "mnesia").mkdir(parents=True, exist_ok=True)
        (self.directory / "log").mkdir(exist_ok=True)
        # Our own config file: the machine's one pins the listener to 5672.
        (self.directory / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{self.port}\n")
        # rabbitmq-server drops to the rabbitmq user, which must own its files.
        shutil.chown(self.directory, "rabbitmq", "rabbitmq")
        for path in self.directory.rglob("*"):
            shutil.chown(path, "rabbitmq", "rabbitmq")
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_CONFIG_FILE": str(self.directory / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(self.directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.directory / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.directory / "enabled_plugins"),
            # Erlang's schedulers spin while idle: on two shared cores each node would burn
            # CPU the service under test needs (a drill runs three). Red Hat's OpenStack
            # deploys RabbitMQ this way by default for the same reason.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+sbwt none +sbwtdcpu none +sbwtdio none",
        }

    def start(self, timeout: float = 90.0) -> None:
        subprocess.run(["rabbitmq-server", "-detached"], env=self._env(), check=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"RabbitMQ node {self.name} did not listen within {timeout} s")

    def os_pid(self) -> int:
        out = subprocess.run(
            ["rabbitmqctl", "-q", "-n", self.name, "eval", "list_to_integer(os:getpid())."],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return int(out.strip())

    def kill(self) -> None:
        """kill -9 the node: no clean shutdown, as a crashed host would go."""
        pid = self.os_pid()
        os.kill(pid, signal.SIGKILL)
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def stop(self) -> None:
        subprocess.run(
            ["rabbitmqctl", "-q", "-n", self.name, "stop"], capture_output=True, check=False
        )
        shutil.rmtree(self.directory, ignore_errors=True)
