"""`make bench`'s Black Friday: the surge against the service as `make up` runs it, and the peer.

Both get a fake Stripe of their own in the live profile (Stripe's latency and rate limits),
their own broker and database on this machine, and the same open-loop surge
(tests/bench/surge.py). The fake's ledger says who charged a payment twice.
"""

import os
import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import requests
from psycopg import sql

from tests import processes
from tests.bench import stack as bench_stack
from tests.bench import surge
from tests.deploy.make_up import make_up

PEER_DATABASE = "payments_peer"
# Stripe's default per-endpoint limit: what the drain is measured against.
ENDPOINT_LIMIT_PER_SECOND = 25.0
PAYMENT = {
    "amount": 2_000,
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "customer_email": "buyer@example.com",
    "description": "black friday",
}


def stripe_counts(stripe_url: str) -> dict[str, int]:
    totals = requests.get(f"{stripe_url}/_fake/traffic", timeout=5).json()["totals"]
    return {"requests": int(totals["requests"]), "429": sum(totals["rate_limited"].values())}


def charged_twice(stripe_url: str) -> int:
    counts = requests.get(f"{stripe_url}/_fake/ledger?since=999999999", timeout=30).json()
    return len(counts["counts"]["payment_ids_charged_more_than_once"])


def count(database_url: str, query: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as db:
        row = db.execute(query).fetchone()
    return int(row[0]) if row else 0


def outcome(
    target: surge.Target, stripe_url: str, surge_seconds: float, drain_limit: float
) -> dict[str, Any]:
    result = surge.run(target, surge_seconds=surge_seconds, drain_limit_seconds=drain_limit)
    return {
        "summary": surge.summary(
            result,
            charged_twice=charged_twice(stripe_url),
            limit_per_second=ENDPOINT_LIMIT_PER_SECOND,
        ),
        "series": surge.series(result),
        "windows": surge.windows(result),
    }


def service(
    work: Path, surge_seconds: float, drain_limit: float, layout: dict[str, str] | None = None
) -> dict[str, Any]:
    """The surge against scripts/up.sh's stack (`make up`: its sizes, the live fake Stripe,
    production sweepers); `layout` overrides up.sh's variables (CHARGES_POOL, …)."""
    work.mkdir(parents=True, exist_ok=True)
    bench_stack.recreate_database()
    env = {
        # One client sends the whole surge: above a single key's limit, which is not measured.
        "API_RATE_LIMIT_REQUESTS": "100000",
        "LOG_LEVEL": "WARNING",
        **(layout or {}),
    }
    with make_up(
        work / "var", bench_stack.DATABASE_URL, env=env, sweepers={}, test_sized=False
    ) as stack:
        key = (work / "var" / "demo_api_key").read_text().strip()
        target = surge.Target(
            name="service",
            post_url=f"{stack.web_url}/api/v1/payments",
            headers={"Authorization": f"Bearer {key}"},
            body=PAYMENT,
            final_count=lambda: count(
                bench_stack.DATABASE_URL,
                "SELECT count(*) FROM payments_payment"
                " WHERE status NOT IN ('pending', 'processing')",
            ),
            stripe_counts=lambda: stripe_counts(stack.stripe_url),
        )
        return outcome(target, stack.stripe_url, surge_seconds, drain_limit)


def recreate_peer_database() -> str:
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(PEER_DATABASE))
        )
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PEER_DATABASE)))
    return f"postgres://postgres@127.0.0.1:5432/{PEER_DATABASE}"


def peer(work: Path, surge_seconds: float, drain_limit: float) -> dict[str, Any]:
    """The same surge against the guide's snippet (tests/bench/peer): two prefork workers
    with Celery's defaults, gunicorn with four sync workers."""
    work.mkdir(parents=True, exist_ok=True)
    database_url = recreate_peer_database()
    with ExitStack() as cleanup:
        env = {
            "DJANGO_SETTINGS_MODULE": "tests.bench.peer.settings",
            "PEER_DATABASE": PEER_DATABASE,
            "CELERY_BROKER_URL": cleanup.enter_context(
                processes.redis_server(work, appendonly=True)
            ),
            "STRIPE_API_BASE": cleanup.enter_context(processes.fakestripe(work, profile="live")),
        }
        subprocess.run(
            [str(processes.BIN / "python"), "-m", "django", "migrate", "--run-syncdb", "-v", "0"],
            cwd=processes.PROJECT_ROOT,
            env={**os.environ, **env},
            check=True,
        )
        port = processes.free_port()
        web = processes.spawn(
            [
                str(processes.BIN / "gunicorn"),
                "tests.bench.peer.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "4",
            ],
            work / "peer-web.log",
            env,
        )
        cleanup.callback(processes.stop, web)
        processes.wait_for_port(port, web)
        for number in (1, 2):
            worker = processes.spawn(
                [
                    str(processes.BIN / "celery"),
                    "-A",
                    "tests.bench.peer.celery_app",
                    "worker",
                    "-n",
                    f"peer{number}@%h",
                    "-l",
                    "INFO",
                ],
                work / f"peer-worker{number}.log",
                env,
            )
            cleanup.callback(processes.stop, worker, 60)
        bench_stack.wait_for_log(
            [work / f"peer-worker{n}.log" for n in (1, 2)], "ready.", timeout=90
        )
        target = surge.Target(
            name="peer",
            post_url=f"http://127.0.0.1:{port}/pay",
            headers={},
            body={"amount": 2_000},
            final_count=lambda: count(
                database_url, "SELECT count(*) FROM peer_order WHERE status = 'paid'"
            ),
            stripe_counts=lambda: stripe_counts(env["STRIPE_API_BASE"]),
        )
        return outcome(target, env["STRIPE_API_BASE"], surge_seconds, drain_limit)
