"""Which Celery pool serves the charges queue: a backlog drained by each candidate, side by side.

Each candidate runs `make up`'s whole stack (scripts/up.sh, the live fake Stripe, production
sweepers) with its charge workers stopped; a backlog of payments is accepted, the charge
workers start, and the drain is timed. Reported per candidate: charges per second over the
middle of the drain (10% to 90% of the backlog: start-up and the tail left out), CPU per
charge of the charge workers, their memory, and Stripe's 429s.
"""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from tests.bench import black_friday, cpu_share
from tests.bench import stack as bench_stack
from tests.deploy.make_up import make_up

CHARGE_WORKERS = ("charges1", "charges2")
# (label, pool, slots per charge worker); two charge workers each.
CANDIDATES = (
    ("prefork, 2 each (the old layout's 4 slots)", "prefork", 2),
    ("prefork, 12 each", "prefork", 12),
    ("threads, 12 each", "threads", 12),
    ("gevent, 12 each", "gevent", 12),
)


def accept_backlog(web_url: str, key: str, payments: int) -> None:
    """Post `payments` payments as fast as the API takes them; every one must be accepted."""

    def post(_: int) -> int:
        response = requests.post(
            f"{web_url}/api/v1/payments",
            json=black_friday.PAYMENT,
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())},
            timeout=30,
        )
        return response.status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(post, range(payments)))
    refused = [status for status in statuses if status != 202]
    if refused:
        raise RuntimeError(
            f"{len(refused)} of {payments} payments were not accepted: {refused[:5]}"
        )


def resident_megabytes(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
        )
    return total / 1024


def drain(work: Path, pool: str, slots: int, payments: int) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    bench_stack.recreate_database()
    layout = {
        "API_RATE_LIMIT_REQUESTS": "100000",
        "LOG_LEVEL": "WARNING",
        "CHARGES_POOL": pool,
        "CHARGES_CONCURRENCY": str(slots),
    }
    with make_up(
        work / "var", bench_stack.DATABASE_URL, env=layout, sweepers={}, test_sized=False
    ) as stack:
        for program in CHARGE_WORKERS:
            stack.ctl("stop", program)
        key = (work / "var" / "demo_api_key").read_text().strip()
        accept_backlog(stack.web_url, key, payments)
        final = (
            "SELECT count(*) FROM payments_payment WHERE status NOT IN ('pending', 'processing')"
        )
        stripe_before = black_friday.stripe_counts(stack.stripe_url)
        cpu_before = cpu_share.snapshot()
        for program in CHARGE_WORKERS:
            stack.ctl("start", program)
        started = time.perf_counter()
        marks: dict[float, float] = {}
        memory = 0.0
        deadline = started + 900
        done = polls = 0
        while done < payments and time.perf_counter() < deadline:
            time.sleep(0.25)
            polls += 1
            done = black_friday.count(bench_stack.DATABASE_URL, final)
            for fraction in (0.1, 0.9):
                if fraction not in marks and done >= fraction * payments:
                    marks[fraction] = time.perf_counter() - started
            if polls % 8 == 0:
                pids = [
                    pid
                    for pid, (role, _) in cpu_share.snapshot().items()
                    if role == cpu_share.CHARGE_WORKERS
                ]
                memory = max(memory, resident_megabytes(pids))
        elapsed = time.perf_counter() - started
        spent = cpu_share.seconds_by_role(cpu_before, cpu_share.snapshot())
        stripe_after = black_friday.stripe_counts(stack.stripe_url)
        middle = marks.get(0.9, elapsed) - marks.get(0.1, 0.0)
        return {
            "pool": pool,
            "slots": slots * len(CHARGE_WORKERS),
            "payments": payments,
            "final": done,
            "seconds": elapsed,
            "charges_per_second": 0.8 * payments / middle if middle > 0 else 0.0,
            "cpu_ms_per_charge": 1000 * spent.get(cpu_share.CHARGE_WORKERS, 0.0) / max(done, 1),
            "resident_mb": memory,
            "stripe_requests": stripe_after["requests"] - stripe_before["requests"],
            "stripe_429": stripe_after["429"] - stripe_before["429"],
        }


def compare(work: Path, payments: int) -> list[dict[str, Any]]:
    return [
        {"label": label, **drain(work / f"{pool}-{slots}", pool, slots, payments)}
        for label, pool, slots in CANDIDATES
    ]
