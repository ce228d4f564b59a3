"""Run the health checks of a compose project's containers, as Podman's systemd timers would.

Podman schedules `podman healthcheck run` with systemd timers; without systemd (this machine
kind) a container's health stays `starting` and compose waits forever on `service_healthy`.
This loop runs each container's check at its own interval (every 2 s until it is first
healthy, so a stack comes up without waiting out whole intervals). Standard library only:
scripts/compose.sh starts it with the machine's python3 and stops it on `down`.
Usage: python3 scripts/healthcheck_ticker.py PROJECT
"""

import json
import signal
import subprocess
import sys
import threading
import time

STARTING_INTERVAL = 2.0


def containers(project: str) -> dict[str, float]:
    """Running containers of the project that have a health check, and its interval in s.

    Keyed by id and start time: a restarted container is checked as a starting one again.
    """
    listed = subprocess.run(
        ["podman", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    if not listed:
        return {}
    inspected = subprocess.run(
        ["podman", "inspect", *listed], capture_output=True, text=True, timeout=60
    )
    found: dict[str, float] = {}
    for container in json.loads(inspected.stdout or "[]"):
        check = container.get("Config", {}).get("Healthcheck") or {}
        if check.get("Test") and check["Test"][0] != "NONE":
            key = f"{container['Id']}@{container['State'].get('StartedAt', '')}"
            found[key] = (check.get("Interval") or 30_000_000_000) / 1e9
    return found


def run_check(container: str, healthy: set[str]) -> None:
    result = subprocess.run(
        ["podman", "healthcheck", "run", container.split("@")[0]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode == 0:
        healthy.add(container)
    else:
        healthy.discard(container)


def main(project: str) -> None:
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    due: dict[str, float] = {}
    healthy: set[str] = set()
    running: dict[str, threading.Thread] = {}
    while not stopping.is_set():
        now = time.monotonic()
        for container, interval in containers(project).items():
            if running.get(container) and running[container].is_alive():
                continue
            if now >= due.get(container, 0.0):
                due[container] = now + (interval if container in healthy else STARTING_INTERVAL)
                thread = threading.Thread(target=run_check, args=(container, healthy), daemon=True)
                running[container] = thread
                thread.start()
        stopping.wait(1.0)


if __name__ == "__main__":
    main(sys.argv[1])
