"""Where a run's CPU went: seconds of CPU by role (web, workers, PostgreSQL, ...).

On 2 cores the pipeline is CPU-bound, so "what limits it" is answered by whose CPU a
payment costs. Read from /proc (utime + stime) before and after a run, for the
benchmark's own processes only: its descendants, and the PostgreSQL backends serving the
bench database (other work on the machine shares the server, not these backends).
"""

import os
from pathlib import Path

from tests.bench import stack as bench_stack

_TICKS = os.sysconf("SC_CLK_TCK")
CHARGE_WORKERS = "charge workers (celery)"
# Matched against a process's command line, first match wins.
ROLES = (
    ("gunicorn", "web (gunicorn)"),
    # make up's charge workers (their node names), apart from the other workers.
    ("charges1@", CHARGE_WORKERS),
    ("charges2@", CHARGE_WORKERS),
    ("celery", "workers (celery)"),
    ("fakestripe", "fake Stripe"),
    ("redis-server", "Redis"),
    ("beam.smp", "RabbitMQ"),
)
LOAD_GENERATOR = "load generator (bench)"
POSTGRES = "PostgreSQL"

Snapshot = dict[int, tuple[str, float]]


def snapshot() -> Snapshot:
    """CPU seconds so far of every process that belongs to the benchmark, with its role."""
    stats = {pid: stat for pid in _pids() if (stat := _stat(pid)) is not None}
    bench_database = bench_stack.DATABASE_URL.rsplit("/", 1)[-1]
    ours = _descendants_of(os.getpid(), {pid: parent for pid, (parent, _) in stats.items()})
    taken: Snapshot = {}
    for pid, (_, seconds) in stats.items():
        command = _command_line(pid)
        if pid == os.getpid():
            taken[pid] = (LOAD_GENERATOR, seconds)
        elif command.startswith("postgres:") and f" {bench_database} " in command:
            taken[pid] = (POSTGRES, seconds)
        elif pid in ours:
            role = next((name for needle, name in ROLES if needle in command), None)
            if role:
                taken[pid] = (role, seconds)
    return taken


def seconds_by_role(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds each role spent between two snapshots (processes born in between count
    whole; those that exited in between are missed, as their time is gone from /proc)."""
    spent: dict[str, float] = {}
    for pid, (role, seconds) in after.items():
        earlier = before.get(pid)
        spent[role] = spent.get(role, 0.0) + seconds - (earlier[1] if earlier else 0.0)
    return spent


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) from /proc/<pid>/stat; None if it just exited."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ")".
    fields = text[text.rindex(")") + 2 :].split()
    parent, user_ticks, system_ticks = int(fields[1]), int(fields[11]), int(fields[12])
    return parent, (user_ticks + system_ticks) / _TICKS


def _command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _descendants_of(root: int, parents: dict[int, int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found, waiting = set(), [root]
    while waiting:
        for child in children.get(waiting.pop(), []):
            if child not in found:
                found.add(child)
                waiting.append(child)
    return found
