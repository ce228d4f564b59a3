"""Gunicorn settings for the web process (`gunicorn -c config/gunicorn.py config.wsgi`).

Prometheus multiprocess mode needs PROMETHEUS_MULTIPROC_DIR set before any worker imports
prometheus_client, an empty directory per run, and dead workers marked in child_exit.
https://prometheus.github.io/client_python/multiprocess/
https://docs.gunicorn.org/en/stable/settings.html#child-exit

Slow clients (README.md, "Security"): gthread workers read a request's body in a
thread, so a client that trickles its body holds a thread, and a worker keeps accepting
connections while all its threads are held. Measured with bodies trickled one byte a
second and 10 /healthz requests (10 s timeout each):
  2 workers x 4 threads, worker_connections 1000:   8 slow -> 2/10 answered
  2 x 16 threads, worker_connections 1000:         16 slow -> 4/10
  2 x 32 threads, worker_connections 32:           24 slow -> 10/10 (median 5 ms)
More than about 2 x threads slow clients still starve it: production puts a buffering
proxy in front (nginx buffers request bodies by default), and gevent was not chosen
because Django's persistent connections leak under it (CONN_MAX_AGE would have to go).
"""

import os
import shutil
import sys
from pathlib import Path
from typing import Any

_project_root = Path(__file__).resolve().parent.parent
# Run as a config file, this module is not imported as config.gunicorn: make the
# project importable for the logger class and the error writer.
sys.path.insert(0, str(_project_root))
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_project_root / "var" / "prometheus" / "web"))
# Importing the config package below loads prometheus_client in the master, which needs
# the directory now (on_starting empties it again before any worker starts).
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

from config import gunicorn_errors, gunicorn_logging  # noqa: E402

# Loopback by default; a container sets WEB_BIND_ADDRESS=0.0.0.0 to be reachable.
bind = f"{os.environ.get('WEB_BIND_ADDRESS', '127.0.0.1')}:{os.environ.get('WEB_PORT', '8000')}"
# `make up` runs two gunicorns on one port (SO_REUSEPORT), so one killed with -9 leaves the
# other answering while supervisord restarts it. Off by default: a second server on a busy
# port should fail loudly, not share it.
reuse_port = os.environ.get("WEB_REUSE_PORT") == "1"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "32"))
# The threads of a worker share this many PostgreSQL connections (config/settings.py): a
# request holds one only while it runs queries, and two cores never run 32 at once.
os.environ.setdefault("DB_POOL_MAX_SIZE", "8")
# A worker takes no more connections than it has threads, so a worker whose threads
# are all held by slow bodies leaves new connections (the probes) to another worker.
worker_connections = threads
# A worker silent this long is killed and replaced (the master's heartbeat check).
timeout = 30
graceful_timeout = 30
# Idle keep-alive connections wait in the worker's poller, not in a thread.
keepalive = 5
# gunicorn's defaults, stated: longer request lines are 414, more or longer headers 431.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
access_log_format = gunicorn_logging.ACCESS_LOG_FORMAT
logger_class = "config.gunicorn_logging.RedactingLogger"

gunicorn_errors.install()


def on_starting(server: Any) -> None:
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    # Gunicorns sharing a port share the directory too, so a scrape answered by either one
    # counts both; the one restarted after a crash must keep the other's samples (scripts/up.sh
    # empties it once, before starting them).
    if not reuse_port:
        shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)


def post_worker_init(worker: Any) -> None:
    # The application is loaded: from now on this worker answers at once. Supervisors and
    # tests read this line; two gunicorns sharing a port cannot be told apart by a request.
    worker.log.info("Worker %s ready to serve", worker.pid)


def child_exit(server: Any, worker: Any) -> None:
    # Imported here, after the environment is set: the client picks its mode on import.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def worker_exit(server: Any, worker: Any) -> None:
    # Flush this worker's spans before it goes (the batch exporter holds some in memory).
    from config import telemetry

    telemetry.shutdown_tracing()
