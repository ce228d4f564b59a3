"""`make bench`: every benchmark in one run, side by side; reports/bench.md and PNG plots.

    python -m tests.bench            # the full run (over an hour on 2 cores)
    python -m tests.bench --quick    # small sizes, to check the harness end to end

Needs PostgreSQL, Redis and RabbitMQ binaries on the machine (`make services`); everything
else (its own database, brokers, fake Stripe, gunicorn, workers) it starts on free
loopback ports and stops. Never run it beside other heavy work: the figures would be
that work's, not the service's.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

os.environ.setdefault("DEBUG", "True")
os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/payments_bench"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from tests.bench import (  # noqa: E402
    black_friday,
    cpu_share,
    latency,
    reconciliation_scale,
    recovery_time,
    report,
    table_size,
    throughput,
    worker_pools,
)
from tests.bench import stack as bench_stack  # noqa: E402
from tests.bench.measure import load_average  # noqa: E402
from tests.bench.otel_sink import otlp_sink  # noqa: E402

FULL = {
    "payments": 600,
    "chains": 2000,
    "repeats": 3,
    "latency_seconds": 20,
    "rates": [25, 50, 100, 200],
    "otel_pairs": 3,
    "otel_payments": 400,
    "scaling_payments": 400,
    "table_sizes": [0, 100_000, 1_000_000],
    "table_requests": 200,
    "reconciliation": True,
    "surge_seconds": 120,
    "surge_drain_limit": 900,
    "pool_backlog": 1200,
    "priority_surge_seconds": 60,
}
QUICK = {
    **FULL,
    "payments": 60,
    "chains": 200,
    "repeats": 1,
    "latency_seconds": 5,
    "rates": [25, 50],
    "otel_pairs": 1,
    "otel_payments": 40,
    "scaling_payments": 40,
    "table_sizes": [0, 10_000],
    "table_requests": 20,
    "reconciliation": False,
    "surge_seconds": 10,
    "surge_drain_limit": 60,
    "pool_backlog": 100,
    "priority_surge_seconds": 10,
}


def load() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*load_average())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the harness")
    parser.add_argument(
        "--only",
        nargs="*",
        help="run only these parts (surge priority pools throughput cpu latency otel scaling "
        "table_size recovery reconciliation)",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="keep the other parts of the last report (reports/bench.json), replace these",
    )
    options = parser.parse_args()
    sizes = QUICK if options.quick else FULL
    parts = options.only or [
        "surge", "priority", "pools", "throughput", "cpu", "latency", "otel", "scaling",
        "table_size",
        "recovery", "reconciliation",
    ]  # fmt: skip
    started = time.time()
    work = Path(tempfile.mkdtemp(prefix="payments-bench-"))
    results: dict[str, Any] = report.previous_results() if options.update else {}
    results |= {
        "command": "make bench" + (" BENCH_ARGS=--quick" if options.quick else ""),
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "machine": {"cores": os.cpu_count()},
        "sizes": sizes,
    }
    bench_stack.recreate_database()
    progress = tqdm(total=len(parts), desc="benchmarks", unit="part", file=sys.stderr)
    try:
        for part in parts:
            progress.set_postfix_str(part)
            results[part] = RUNNERS[part](work / part, sizes)
            progress.update(1)
    finally:
        progress.close()
        results["minutes"] = (time.time() - started) / 60
        path = report.write(results)
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {path} and its plots")


def run_throughput(work: Path, sizes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for broker in ("redis", "rabbitmq"):
        entry: dict[str, Any] = {"load": load(), "baseline": [], "pipeline": []}
        for repeat in range(sizes["repeats"]):
            entry["baseline"].append(
                throughput.baseline_chain_rate(
                    work / f"{broker}-baseline-{repeat}", broker, sizes["chains"]
                )
            )
        with bench_stack.running(work / f"{broker}-pipeline", broker=broker) as bench:
            for _ in range(sizes["repeats"]):
                entry["pipeline"].append(throughput.pipeline_rate(bench, sizes["payments"]))
        out[broker] = entry
    return out


def run_cpu(work: Path, sizes: dict[str, Any]) -> dict[str, Any]:
    """CPU milliseconds per payment by process role, one pipeline run per broker.

    CPU time, unlike wall time, hardly moves with other work on the machine, so this
    part says what limits the pipeline even when the machine is busy.
    """
    out: dict[str, Any] = {"load": load()}
    for broker in ("redis", "rabbitmq"):
        with bench_stack.running(work / broker, broker=broker) as bench:
            before = cpu_share.snapshot()
            throughput.pipeline_rate(bench, sizes["payments"])
            spent = cpu_share.seconds_by_role(before, cpu_share.snapshot())
        out[broker] = {role: 1000 * s / sizes["payments"] for role, s in spent.items()}
    return out


def run_latency(work: Path, sizes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"seconds": sizes["latency_seconds"], "load": load(), "runs": []}
    with bench_stack.running(work) as bench:
        key = throughput.api_key()
        for rate in sizes["rates"]:
            run = latency.open_loop(bench.web_url, key, rate, sizes["latency_seconds"])
            out["runs"].append(run.__dict__)
        bench.stop_workers()
        out["ceiling"] = [
            latency.accept_ceiling(bench.web_url, key, sizes["latency_seconds"])
            for _ in range(sizes["repeats"])
        ]
    return out


def run_otel(work: Path, sizes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"load": load(), "on": [], "off": []}
    with otlp_sink() as endpoint:
        for pair in range(sizes["otel_pairs"]):
            for mode, env in (
                ("off", {"OTEL_SDK_DISABLED": "true"}),
                ("on", {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}),
            ):
                with bench_stack.running(work / f"{mode}-{pair}", env=env) as bench:
                    out[mode].append(throughput.pipeline_rate(bench, sizes["otel_payments"]))
    return out


def run_scaling(work: Path, sizes: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for workers, concurrency in ((1, 1), (1, 2), (2, 2)):
        with bench_stack.running(
            work / f"{workers}x{concurrency}", workers=workers, concurrency=concurrency
        ) as bench:
            rates = [
                throughput.pipeline_rate(bench, sizes["scaling_payments"])
                for _ in range(sizes["repeats"])
            ]
        out.append({"processes": workers * concurrency, "rates": rates, "load": load()})
    return out


def run_table_size(work: Path, sizes: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    with bench_stack.running(work) as bench:
        key = throughput.api_key()
        client_id = table_size.client_id_of(key[:12])
        seeded = 0
        for rows in sizes["table_sizes"]:
            with tqdm(total=rows - seeded, desc=f"seeding {rows:,}", file=sys.stderr) as bar:
                table_size.seed_payments(client_id, rows - seeded, bar.update, start=seeded)
            seeded = rows
            timings = table_size.request_latencies(bench.web_url, key, sizes["table_requests"])
            out.append(
                {
                    "rows": rows,
                    "load": load(),
                    **{name: table_size.summary(values) for name, values in timings.items()},
                    "sweeper": table_size.summary(table_size.sweeper_query_seconds()),
                }
            )
    return out


def run_recovery(work: Path, sizes: dict[str, Any]) -> dict[str, list[float]]:
    # A fresh database: the 1% of seeded payments still owed (table_size) would be swept
    # into the queue ahead of the one charge this part times.
    bench_stack.recreate_database()
    return {
        broker: [recovery_time.seconds_to_run_again(work / broker, broker)]
        for broker in ("rabbitmq", "redis")
    }


def run_reconciliation(work: Path, sizes: dict[str, Any]) -> dict[str, Any]:
    if not sizes["reconciliation"]:
        return {}
    from payments.services import create_api_client

    client, _ = create_api_client(name="bench-reconciliation")
    total = reconciliation_scale.PAYMENTS_PER_DAY * reconciliation_scale.DAYS
    with tqdm(total=total, desc="seeding Stripe and payments", file=sys.stderr) as bar:
        timing = reconciliation_scale.measure(work, client.pk, bar.update)
    return {**timing.__dict__, "load": load()}


def run_surge(work: Path, sizes: dict[str, Any]) -> dict[str, Any]:
    """Black Friday: the service as `make up` runs it, then the guide's snippet."""
    seconds, limit = sizes["surge_seconds"], sizes["surge_drain_limit"]
    return {
        "surge_seconds": seconds,
        "load": load(),
        "service": black_friday.service(work / "service", seconds, limit),
        "peer": black_friday.peer(work / "peer", seconds, limit),
    }


def run_priority(work: Path, sizes: dict[str, Any]) -> dict[str, Any]:
    """Accept latency during the surge with the workers at the web's CPU priority and below
    it (WORKER_NICE 0, then make up's 10); only the surge is measured, not the drain."""
    seconds = sizes["priority_surge_seconds"]
    out: dict[str, Any] = {"surge_seconds": seconds, "load": load()}
    for nice in ("0", "10"):
        outcome = black_friday.service(
            work / f"nice-{nice}", seconds, drain_limit=10, layout={"WORKER_NICE": nice}
        )
        out[f"nice {nice}"] = outcome["summary"]
    return out


def run_pools(work: Path, sizes: dict[str, Any]) -> dict[str, Any]:
    """The charges queue's pool candidates, each draining the same backlog."""
    return {
        "load": load(),
        "runs": worker_pools.compare(work, sizes["pool_backlog"]),
    }


RUNNERS = {
    "surge": run_surge,
    "pools": run_pools,
    "priority": run_priority,
    "throughput": run_throughput,
    "cpu": run_cpu,
    "latency": run_latency,
    "otel": run_otel,
    "scaling": run_scaling,
    "table_size": run_table_size,
    "recovery": run_recovery,
    "reconciliation": run_reconciliation,
}

if __name__ == "__main__":
    main()
