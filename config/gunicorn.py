"""Gunicorn settings for the web process (`gunicorn -c config/gunicorn.py config.wsgi`).

Prometheus multiprocess mode needs PROMETHEUS_MULTIPROC_DIR set before any worker imports
prometheus_client, an empty directory per run, and dead workers marked in child_exit.
https://prometheus.github.io/client_python/multiprocess/
https://docs.gunicorn.org/en/stable/settings.html#child-exit
"""

import os
import shutil
from pathlib import Path
from typing import Any

_project_root = Path(__file__).resolve().parent.parent
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_project_root / "var" / "prometheus" / "web"))

bind = f"127.0.0.1:{os.environ.get('WEB_PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 30
accesslog = "-"


def on_starting(server: Any) -> None:
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    # Imported here, after the environment is set: the client picks its mode on import.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def worker_exit(server: Any, worker: Any) -> None:
    # Flush this worker's spans before it goes (the batch exporter holds some in memory).
    from config import telemetry

    telemetry.shutdown_tracing()
