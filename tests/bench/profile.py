"""Flame graphs of the web and worker processes under load (py-spy), into reports/.

    python -m tests.bench.profile [--payments 600]

Starts the `make up` layout on the bench database, records every gunicorn and Celery
process with py-spy while clients post payments and the workers charge them, and writes
reports/profile-web.svg and reports/profile-worker.svg (open them in a browser).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

os.environ.setdefault("DEBUG", "True")
os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/payments_bench"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from tests.bench import stack as bench_stack  # noqa: E402
from tests.bench import throughput  # noqa: E402
from tests.bench.report import REPORTS  # noqa: E402

PY_SPY = Path(sys.executable).parent / "py-spy"


def record(pid: int, seconds: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy on a process and its children (gunicorn's workers, Celery's pool)."""
    return subprocess.Popen(
        [
            str(PY_SPY),
            "record",
            "--format",
            "flamegraph",
            "--duration",
            str(seconds),
            "--rate",
            "200",
            "--subprocesses",
            "--pid",
            str(pid),
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.profile", description=__doc__)
    parser.add_argument("--payments", type=int, default=600)
    parser.add_argument("--seconds", type=int, default=30)
    options = parser.parse_args()
    bench_stack.recreate_database()
    REPORTS.mkdir(exist_ok=True)
    with bench_stack.running(Path(tempfile.mkdtemp(prefix="payments-profile-"))) as bench:
        assert bench.web is not None
        recorders = [
            record(bench.web.pid, options.seconds, REPORTS / "profile-web.svg"),
            *(
                record(worker.pid, options.seconds, REPORTS / f"profile-{name}.svg")
                for name, worker in bench.workers.items()
            ),
        ]
        load = threading.Thread(
            target=throughput.pipeline_rate, args=(bench, options.payments), daemon=True
        )
        load.start()
        for recorder in recorders:
            recorder.wait()
    print(f"wrote {REPORTS}/profile-web.svg and profile-worker*.svg")


if __name__ == "__main__":
    main()
