"""A web process's threads share a bounded pool of PostgreSQL connections (config/gunicorn.py).

Without the pool every gunicorn thread kept a connection of its own: `make up`'s two
gunicorns could hold 128, over PostgreSQL's default of 100, and a surge of checkouts
was refused by the database ("too many clients") before the CPU ran out.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from payments import services
from tests import processes

pytestmark = pytest.mark.integration

WORKERS = 2
CONCURRENT_CLIENTS = 48


def connections(database_url: str) -> int:
    """Sessions on the test database other than the one asking."""
    with psycopg.connect(database_url, autocommit=True) as db:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


def test_48_concurrent_clients_use_at_most_8_connections_per_web_worker(
    private_broker, transactional_db, tmp_path
):
    _, key = services.create_api_client(name="pool")
    env = {
        **processes.test_environment(private_broker),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "RATE_LIMIT_REDIS_URL": private_broker,
        "API_RATE_LIMIT_REQUESTS": "100000",
    }
    (tmp_path / "prometheus").mkdir()
    database_url = env["DATABASE_URL"]
    with processes.gunicorn(env, tmp_path, workers=WORKERS, config_file=True) as url:
        stop = threading.Event()
        most = 0

        def watch() -> None:
            nonlocal most
            while not stop.is_set():
                most = max(most, connections(database_url))
                time.sleep(0.05)

        def client(_: int) -> list[int]:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {key}"
            return [
                session.get(f"{url}/api/v1/payments?limit=5", timeout=60).status_code
                for _ in range(6)
            ]

        baseline = connections(database_url)
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            with ThreadPoolExecutor(CONCURRENT_CLIENTS) as pool:
                statuses = [
                    code for codes in pool.map(client, range(CONCURRENT_CLIENTS)) for code in codes
                ]
        finally:
            stop.set()
            watcher.join()

    assert statuses == [200] * CONCURRENT_CLIENTS * 6
    # Every thread busy at once, yet no more connections than the pools allow.
    assert most - baseline <= WORKERS * 8
    assert most - baseline >= 2  # the web did use the database
