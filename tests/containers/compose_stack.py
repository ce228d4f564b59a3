"""docker/compose.yaml started under Podman (scripts/compose.sh), with the levers the
container chaos pulls: SIGKILL a container, restart one, pause one, wait for health."""

import http.client
import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.chaos.stack import ChaosStack
from tests.processes import PROJECT_ROOT, free_port

COMPOSE_SH = PROJECT_ROOT / "scripts" / "compose.sh"
CHAOS_FILE = "docker/compose.chaos.yaml"
# What a careful operator would wait for a container to come back healthy.
# Beat's check runs `manage.py check`: on a saturated two-core machine, a minute a pass.
HEALTHY_TIMEOUT = 420.0


def podman(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise PodmanError(f"podman {' '.join(args)}: {result.returncode}: {result.stderr}")
    return result.stdout


class PodmanError(RuntimeError):
    pass


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=120)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(120)
        self.sock.connect(self.socket_path)


def _retrying(*args: str, timeout: float = 60) -> None:
    """A podman command that a container's passing state (cleanup after a kill, a health
    check's exec) may refuse for a moment."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            podman(*args)
            return
        except PodmanError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@dataclass
class ComposeStack:
    """One compose project: its own name, secrets and free loopback ports."""

    broker: str
    directory: Path
    project: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    # Seconds from a container's start to its first healthy check, by container name.
    start_to_healthy: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.project = self.project or f"payments-chaos-{self.broker}"
        token = secrets.token_urlsafe
        self.secrets = {
            "SECRET_KEY": token(40),
            "POSTGRES_PASSWORD": token(16),
            "STRIPE_API_KEY": f"sk_test_{token(16)}",
            "STRIPE_WEBHOOK_SECRET": f"whsec_{token(24)}",
            "API_KEY_HASH_SECRET": token(40),
            "FLOWER_BASIC_AUTH": f"flower:{token(12)}",
            "GRAFANA_ADMIN_PASSWORD": token(12),
            "RABBITMQ_PASSWORD": token(16),
            "OTEL_EXPORTER_OTLP_ENDPOINT": "",
        }
        self.ports = {
            name: free_port()
            for name in (
                "WEB_HOST_PORT",
                "MONITOR_HOST_PORT",
                "FLOWER_HOST_PORT",
                "RABBITMQ_MANAGEMENT_HOST_PORT",
                "CHAOS_POSTGRES_PORT",
                "CHAOS_STRIPE_PORT",
            )
        }

    # --- compose -----------------------------------------------------------------------------

    @property
    def env_file(self) -> Path:
        return self.directory / "compose.env"

    def compose(self, *args: str, timeout: float = 900) -> None:
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.secrets.items()))
        log = self.directory / "compose.log"
        with log.open("a") as output:
            subprocess.run(
                ["bash", str(COMPOSE_SH), *args],
                env={
                    **os.environ,
                    "COMPOSE_PROJECT": self.project,
                    "COMPOSE_ENV_FILE": str(self.env_file),
                    "COMPOSE_FILES_EXTRA": CHAOS_FILE,
                    "BROKER": self.broker,
                    **{name: str(port) for name, port in self.ports.items()},
                },
                cwd=PROJECT_ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=timeout,
            )

    def up(self) -> None:
        self.compose("up")
        started = {name: self.started_at(name) for name in self.containers()}
        healthy_at = self.wait_healthy(list(started))
        self.start_to_healthy = {
            name: round(healthy_at[name] - started[name], 1) for name in healthy_at
        }

    def down(self) -> None:
        self.compose("down", timeout=300)

    # --- containers --------------------------------------------------------------------------

    def name(self, service: str, number: int = 1) -> str:
        """compose v1's container name: project_service_number."""
        return f"{self.project.replace('.', '')}_{service}_{number}"

    def containers(self) -> list[str]:
        """Running containers of the project that have a health check."""
        listed = podman(
            "ps", "--format", "json", "--filter", f"label=com.docker.compose.project={self.project}"
        )
        names = [c["Names"][0] for c in json.loads(listed or "[]")]
        return [n for n in names if self.inspect(n)["Config"].get("Healthcheck")]

    def inspect(self, name: str) -> dict[str, Any]:
        return json.loads(podman("inspect", name))[0]  # type: ignore[no-any-return]

    def health(self, name: str) -> str:
        state = self.inspect(name)["State"]
        return str((state.get("Health") or state.get("Healthcheck") or {}).get("Status", ""))

    def started_at(self, name: str) -> float:
        """The container's last start, as a Unix time (podman prints nanoseconds)."""
        stamp = podman("inspect", "--format", "{{.State.StartedAt.UnixNano}}", name).strip()
        return int(stamp) / 1e9

    def wait_healthy(self, names: list[str], timeout: float = HEALTHY_TIMEOUT) -> dict[str, float]:
        """Wait until every named container is running and healthy; when each first was."""
        deadline = time.monotonic() + timeout
        healthy_at: dict[str, float] = {}
        while len(healthy_at) < len(names):
            for name in names:
                if name not in healthy_at and self.health(name) == "healthy":
                    healthy_at[name] = time.time()
            assert time.monotonic() < deadline, {
                n: self.health(n) for n in names if n not in healthy_at
            }
            time.sleep(0.5)
        return healthy_at

    def sigkill(self, name: str) -> None:
        podman("kill", "--signal", "KILL", name)

    def start(self, name: str) -> None:
        """Start a stopped container (a killed one may still be being cleaned up)."""
        self._api_post(f"/containers/{name}/start")

    def restart(self, name: str) -> None:
        """Stop (SIGTERM, 10 s grace) and start again, as `docker restart` does."""
        self._api_post(f"/containers/{name}/restart?t=10")

    def _api_post(self, path: str, timeout: float = 60) -> None:
        """Through the project's Docker-API socket, as compose does: `podman start` or
        `podman restart` from the command line may not find the network compose made
        through the socket ("unable to find network with name or ID")."""
        socket_path = PROJECT_ROOT / "var" / "containers" / f"{self.project}.sock"
        deadline = time.monotonic() + timeout
        while True:
            api = _UnixHTTPConnection(str(socket_path))
            api.request("POST", f"/v1.40{path}")
            response = api.getresponse()
            body = response.read().decode()
            api.close()
            if response.status in (204, 304):
                return
            assert time.monotonic() < deadline, f"POST {path}: {response.status} {body}"
            time.sleep(1)

    def pause(self, name: str) -> None:
        _retrying("pause", name)

    def unpause(self, name: str) -> None:
        _retrying("unpause", name)

    def exec(self, name: str, *command: str) -> str:
        return podman("exec", name, *command)

    def hostname(self, name: str) -> str:
        return str(self.inspect(name)["Config"]["Hostname"])

    def mail_dir(self) -> Path:
        volume = f"{self.project}_mail"
        return Path(podman("volume", "inspect", "--format", "{{.Mountpoint}}", volume).strip())

    # --- the chaos suite's view of it --------------------------------------------------------

    @property
    def database_url(self) -> str:
        password = self.secrets["POSTGRES_PASSWORD"]
        return (
            f"postgres://payments:{password}@127.0.0.1:{self.ports['CHAOS_POSTGRES_PORT']}/payments"
        )

    def chaos_stack(self) -> ChaosStack:
        """What tests/chaos/runner.py drives: the published web and fake Stripe ports."""
        (self.directory / "mail").symlink_to(self.mail_dir())
        stack = ChaosStack(
            directory=self.directory,
            env={},
            broker_port=0,
            stripe_url=f"http://127.0.0.1:{self.ports['CHAOS_STRIPE_PORT']}",
            web_url=f"http://127.0.0.1:{self.ports['WEB_HOST_PORT']}",
            # The fake Stripe posts from its own container, to web's name on their network.
            webhook_web_url="http://web:8000",
        )
        # Only the endpoint the chaos suite subscribes (the compose file's own one sends
        # every event type, and would deliver each event twice).
        requests.delete(
            f"{stack.stripe_url}/_fake/webhook_endpoints", timeout=10
        ).raise_for_status()
        stack.send_webhooks_to_web()
        return stack


@contextmanager
def running_compose_stack(broker: str, directory: Path) -> Iterator[ComposeStack]:
    stack = ComposeStack(broker=broker, directory=directory)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
