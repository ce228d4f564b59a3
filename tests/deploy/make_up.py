"""`make up` as a test runs it: scripts/up.sh and its supervisord.conf on free ports."""

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
import requests

from tests import processes
from tests.chaos.stack import FAST_SWEEPERS

PROGRAMS = (
    "redis",
    "fakestripe",
    "web1",
    "web2",
    "worker1",
    "worker2",
    "charges1",
    "charges2",
    "beat",
    "monitor",
    "flower",
)
PORT_VARIABLES = (
    "WEB_PORT",
    "REDIS_PORT",
    "FAKESTRIPE_PORT",
    "CELERY_MONITOR_PORT",
    "WORKER1_METRICS_PORT",
    "WORKER2_METRICS_PORT",
    "CHARGES1_METRICS_PORT",
    "CHARGES2_METRICS_PORT",
    "FLOWER_PORT",
)

# The kill tests check survival, not pace: one gunicorn worker per web process (two
# processes still share the port), two charge slots per charge worker, an instant fake
# Stripe (make up's own is live), and workers at the test's own priority (on a machine
# shared with other suites, nice 10 starves their start-up past the wait).
TEST_SIZES = {
    "WEB_CONCURRENCY": "1",
    "CHARGES_CONCURRENCY": "2",
    "FAKESTRIPE_PROFILE": "zero",
    "WORKER_NICE": "0",
}


@dataclass
class MakeUp:
    var_dir: Path
    env: dict[str, str]
    supervisord: subprocess.Popen[bytes]

    def port(self, variable: str) -> int:
        return int(self.env[variable])

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.port('WEB_PORT')}"

    @property
    def stripe_url(self) -> str:
        return f"http://127.0.0.1:{self.port('FAKESTRIPE_PORT')}"

    def ctl(self, *args: str) -> str:
        """supervisorctl against this stack, as `make ps` runs it."""
        return subprocess.run(
            [str(processes.BIN / "supervisorctl"), "-c", "scripts/supervisord.conf", *args],
            cwd=processes.PROJECT_ROOT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=False,
        ).stdout

    def states(self) -> dict[str, tuple[str, int]]:
        """program → (state, pid) from `supervisorctl status`."""
        found = {}
        for line in self.ctl("status").splitlines():
            name, state, *rest = line.split()
            pid = int(rest[1].rstrip(",")) if rest[:1] == ["pid"] else 0
            found[name] = (state, pid)
        return found

    def pid(self, program: str) -> int:
        state, pid = self.states()[program]
        assert state == "RUNNING", f"{program} is {state}"
        return pid

    def wait_restarted(
        self, program: str, old_pid: int, *, serving: bool, timeout: float = 90.0
    ) -> int:
        """Wait until supervisord runs `program` again under a new pid (and, if `serving`,
        until it does its work again)."""
        since = time.time()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state, pid = self.states().get(program, ("MISSING", 0))
            restarted = state == "RUNNING" and pid not in (0, old_pid)
            if restarted and (not serving or self.serves(program, since)):
                return pid
            assert state not in ("FATAL", "MISSING"), f"{program} is {state}"
            time.sleep(0.2)
        raise TimeoutError(f"{program} was not restarted within {timeout} s")

    def wait_serving(self, timeout: float = 180.0) -> None:
        _wait_until(
            lambda: (
                set(self.states()) == set(PROGRAMS)
                and all(state == "RUNNING" for state, _ in self.states().values())
                and all(self.serves(program) for program in PROGRAMS)
            ),
            timeout=timeout,
            # Said when the wait fails, so it shows the state at the end, not the start.
            what=lambda: (
                f"every make-up process running and serving: {self.states()}; not serving: "
                f"{[program for program in PROGRAMS if not self.serves(program)]}"
            ),
        )

    def serves(self, program: str, since: float = 0.0) -> bool:
        """Each program's own sign of work: a port that answers, a heartbeat newer than `since`."""
        if program.startswith(("worker", "charges")):
            heartbeat = self.var_dir / "run" / f"{program}.alive"
            return heartbeat.exists() and heartbeat.stat().st_mtime >= since
        if program == "redis":
            try:
                return bool(redis.Redis(port=self.port("REDIS_PORT")).ping())
            except redis.RedisError:
                return False
        if program == "beat":
            return "beat: Starting" in self.log(program).rsplit("celery beat v", 1)[-1]
        if program.startswith("web"):
            # The port is shared, so a request cannot tell which gunicorn answered: one of
            # this master's workers must have logged that its application is loaded.
            master = self.states()[program][1]
            ready = re.findall(r"Worker (\d+) ready to serve", self.log(program))
            return any(_parent(int(pid)) == master for pid in ready)
        port = {
            "fakestripe": "FAKESTRIPE_PORT",
            "monitor": "CELERY_MONITOR_PORT",
            "flower": "FLOWER_PORT",
        }[program]
        try:
            requests.get(f"http://127.0.0.1:{self.port(port)}/", timeout=2)
        except requests.RequestException:
            return False
        return True

    def log(self, program: str) -> str:
        log = self.var_dir / "log" / f"{program}.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def all_pids(self) -> list[int]:
        """Every process of the stack: supervisord, its programs and their children."""
        found = subprocess.run(
            ["pgrep", "-s", str(os.getsid(self.supervisord.pid))], capture_output=True, text=True
        )
        return [int(pid) for pid in found.stdout.split()]

    def interrupt(self, timeout: float = 200.0) -> int:
        """Ctrl-C: SIGINT to supervisord, as the terminal sends it; its exit status."""
        self.supervisord.send_signal(signal.SIGINT)
        return self.supervisord.wait(timeout=timeout)


def _parent(pid: int) -> int:
    """The parent pid of a running process, 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def _wait_until(check: object, timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what()} within {timeout} s")


@contextmanager
def make_up(
    var_dir: Path,
    database_url: str,
    *,
    env: dict[str, str] | None = None,
    sweepers: dict[str, str] = FAST_SWEEPERS,
    test_sized: bool = True,
) -> Iterator[MakeUp]:
    """scripts/up.sh (what `make up` runs after installing) on free ports and this database.

    `sweepers={}` keeps the production thresholds; `env` adds to the stack's environment;
    `test_sized=False` keeps make up's own sizes and fake Stripe profile (benchmarks)."""
    extra_env = env or {}
    env = {
        **{variable: str(processes.free_port()) for variable in PORT_VARIABLES},
        **sweepers,
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": database_url,
        "VENV_BIN": str(processes.BIN),
        **(TEST_SIZES if test_sized else {}),
        **extra_env,
    }
    supervisord = processes.spawn(["bash", "scripts/up.sh"], var_dir.parent / "up.log", env)
    stack = MakeUp(var_dir, env, supervisord)
    try:
        stack.wait_serving()
        yield stack
    finally:
        if supervisord.poll() is None:
            stack.interrupt()
        processes.stop(supervisord)
