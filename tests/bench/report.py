"""reports/bench.md and its plots, from the results the benchmark run collected."""

import json
import platform
import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tests.bench import surge_report

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def stat(values: list[float], unit: str = "", digits: int = 1) -> str:
    if not values:
        return "—"
    ordered = sorted(values)
    return (
        f"{statistics.median(ordered):,.{digits}f}{unit} "
        f"({ordered[0]:,.{digits}f} to {ordered[-1]:,.{digits}f}, n={len(values)})"
    )


def previous_results() -> dict[str, Any]:
    path = REPORTS / "bench.json"
    return json.loads(path.read_text()) if path.exists() else {}


def write(results: dict[str, Any]) -> Path:
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    sections = [
        "# Benchmarks",
        "",
        f"Machine: {results['machine']['cores']} cores, {platform.python_implementation()} "
        f"{platform.python_version()}; load average before each part is given with it. "
        f"Command: `{results['command']}` ({results['started']}, {results['minutes']:.1f} min). "
        "Figures are median (min to max, n = repeats).",
        "",
    ]
    sections += throughput_section(results)
    sections += latency_section(results)
    sections += otel_section(results)
    sections += scaling_section(results)
    sections += table_size_section(results)
    sections += recovery_section(results)
    sections += reconciliation_section(results)
    sections += surge_report.section(results, table)
    sections += surge_report.priority_section(results, table)
    sections += surge_report.pools_section(results, table)
    path = REPORTS / "bench.md"
    path.write_text("\n".join(sections) + "\n")
    plot(results)
    surge_report.plot(results, REPORTS)
    return path


def throughput_section(results: dict[str, Any]) -> list[str]:
    rows = []
    for broker, part in results.get("throughput", {}).items():
        baseline, pipeline = part["baseline"], part["pipeline"]
        ratio = [p / b for p, b in zip(sorted(pipeline), sorted(baseline), strict=False)]
        rows.append(
            [
                broker,
                stat(baseline, "/s"),
                stat(pipeline, "/s"),
                stat(ratio, "", 2),
                part["load"],
            ]
        )
    return [
        "## Throughput: payments end to end against raw Celery",
        "",
        "Baseline: a two-task chain of no-ops through raw Celery (acks late, prefetch 1, "
        "django-db results) on the same broker, database and worker layout (2 workers x 2 "
        "processes). Pipeline: payments from the first POST to the last receipt sent "
        "(8 clients, charge through the fake Stripe).",
        "",
        table(
            ["broker", "baseline chains", "pipeline payments", "pipeline / baseline", "load"], rows
        ),
        "",
        "![throughput](bench_throughput.png)",
        "",
        *cpu_section(results),
    ]


def cpu_section(results: dict[str, Any]) -> list[str]:
    """CPU milliseconds per payment by process role: on 2 cores, the limit."""
    part = results.get("cpu")
    if not part:
        return []
    parts = {broker: spent for broker, spent in part.items() if broker != "load"}
    roles = sorted({role for spent in parts.values() for role in spent})
    rows = [[role] + [f"{spent.get(role, 0.0):.1f}" for spent in parts.values()] for role in roles]
    rows.append(["total"] + [f"{sum(spent.values()):.1f}" for spent in parts.values()])
    return [
        "### Where a payment's CPU goes",
        "",
        f"CPU milliseconds per payment over one pipeline run of {results['sizes']['payments']} "
        "payments per broker, by process (from /proc: the benchmark's own processes and the "
        "PostgreSQL backends of its database). With 2 cores, 2000 ms of CPU per second "
        "divided by the total is the most payments per second this machine can give, "
        f"whatever the concurrency. Load before: {part['load']}.",
        "",
        table(["process", *(f"ms per payment ({broker})" for broker in parts)], rows),
        "",
    ]


def latency_section(results: dict[str, Any]) -> list[str]:
    part = results.get("latency")
    if not part:
        return []
    rows = [
        [
            f"{run['offered_rate']:.0f}/s",
            f"{run['p50_ms']:.0f} ms",
            f"{run['p99_ms']:.0f} ms",
            f"{run['max_ms']:.0f} ms",
            str(run["errors"]),
            f"{run['achieved_rate']:.0f}/s",
        ]
        for run in part["runs"]
    ]
    return [
        "## API accept latency at a fixed offered load (open loop, workers running)",
        "",
        f"Each level for {part['seconds']} s; latency counts from when a request was due "
        f"(no coordinated omission). Load before: {part['load']}.",
        "",
        table(["offered", "p50", "p99", "max", "errors", "sent at"], rows),
        "",
        f"Accept-only ceiling with the workers stopped (16 closed-loop clients): "
        f"{stat(part['ceiling'], '/s')}.",
        "",
        "![latency](bench_latency.png)",
        "",
    ]


def otel_section(results: dict[str, Any]) -> list[str]:
    part = results.get("otel")
    if not part:
        return []
    ratios = [on / off for on, off in zip(part["on"], part["off"], strict=True)]
    return [
        "## OpenTelemetry on versus off",
        "",
        "Pipeline throughput, runs interleaved off/on so drift hits both: on = every "
        "instrumentation with the OTLP/HTTP exporter (batched) to a local endpoint; off = "
        "`OTEL_SDK_DISABLED=true`.",
        "",
        table(
            ["off", "on", "on / off"],
            [[stat(part["off"], "/s"), stat(part["on"], "/s"), stat(ratios, "", 3)]],
        ),
        "",
    ]


def scaling_section(results: dict[str, Any]) -> list[str]:
    part = results.get("scaling")
    if not part:
        return []
    rows = [[str(run["processes"]), stat(run["rates"], "/s")] for run in part]
    return [
        "## Scaling with worker processes",
        "",
        table(["worker processes", "payments end to end"], rows),
        "",
        "![scaling](bench_scaling.png)",
        "",
    ]


def table_size_section(results: dict[str, Any]) -> list[str]:
    part = results.get("table_size")
    if not part:
        return []
    rows = [
        [
            f"{run['rows']:,}",
            *(f"{run[name][0]:.1f} / {run[name][1]:.1f}" for name in ("accept", "read", "list")),
            f"{run['sweeper'][0]:.2f} / {run['sweeper'][1]:.2f}",
        ]
        for run in part
    ]
    return [
        "## The payments table at 0, 100k and 1M rows",
        "",
        "p50 / p99 in ms: 200 sequential requests each, and the stalled-payment sweeper's "
        "query 20 times.",
        "",
        table(["rows", "accept", "read", "list", "sweeper query"], rows),
        "",
        "![table size](bench_table_size.png)",
        "",
    ]


def recovery_section(results: dict[str, Any]) -> list[str]:
    part = results.get("recovery")
    if not part:
        return []
    rows = [[broker, stat(seconds, " s")] for broker, seconds in part.items()]
    return [
        "## A charge held by a kill -9'd worker runs again after",
        "",
        "Production defaults (beat, the monitor, the sweeper's 900 s thresholds). RabbitMQ "
        "requeues on the dropped connection; Redis keeps the message unacked until its "
        "visibility timeout (180 s), and the monitor restores it first once the worker's "
        "heartbeats stop (before retries moved to PostgreSQL: 15 to 16 minutes).",
        "",
        table(["broker", "seconds"], rows),
        "",
    ]


def reconciliation_section(results: dict[str, Any]) -> list[str]:
    part = results.get("reconciliation")
    if not part:
        return []
    return [
        "## Reconciliation at 100,000 payments a day",
        "",
        f"Two days ({part['intents']:,} PaymentIntents seeded in the fake, matching payments "
        f"here): a whole run took {part['seconds']:.0f} s in {part['chunks']} chunks; the "
        f"slowest chunk took {part['slowest_chunk_seconds']:.1f} s (soft time limit 120 s); "
        f"{part['mismatches']} mismatches.",
        "",
    ]


def plot(results: dict[str, Any]) -> None:
    if "throughput" in results:
        brokers = list(results["throughput"])
        figure, axis = plt.subplots(figsize=(7, 4))
        width = 0.35
        for offset, (label, key) in enumerate(
            (("raw Celery chain", "baseline"), ("payments", "pipeline"))
        ):
            values = [
                sorted(results["throughput"][b][key])[len(results["throughput"][b][key]) // 2]
                for b in brokers
            ]
            axis.bar([i + offset * width for i in range(len(brokers))], values, width, label=label)
        axis.set_xticks([i + width / 2 for i in range(len(brokers))], brokers)
        axis.set_ylabel("per second (median)")
        axis.set_title("End-to-end throughput")
        axis.legend()
        figure.tight_layout()
        figure.savefig(REPORTS / "bench_throughput.png", dpi=120)
        plt.close(figure)
    if "latency" in results:
        runs = results["latency"]["runs"]
        figure, axis = plt.subplots(figsize=(7, 4))
        rates = [run["offered_rate"] for run in runs]
        axis.plot(rates, [run["p50_ms"] for run in runs], marker="o", label="p50")
        axis.plot(rates, [run["p99_ms"] for run in runs], marker="o", label="p99")
        axis.set_xlabel("offered load (requests/s)")
        axis.set_ylabel("accept latency (ms)")
        axis.set_yscale("log")
        axis.legend()
        axis.set_title("POST /api/v1/payments, open loop")
        figure.tight_layout()
        figure.savefig(REPORTS / "bench_latency.png", dpi=120)
        plt.close(figure)
    if "scaling" in results:
        runs = results["scaling"]
        figure, axis = plt.subplots(figsize=(6, 4))
        axis.plot(
            [run["processes"] for run in runs],
            [statistics.median(run["rates"]) for run in runs],
            marker="o",
        )
        axis.set_xlabel("worker processes")
        axis.set_ylabel("payments/s end to end")
        axis.set_title("Scaling with worker processes")
        figure.tight_layout()
        figure.savefig(REPORTS / "bench_scaling.png", dpi=120)
        plt.close(figure)
    if "table_size" in results:
        runs = results["table_size"]
        figure, axis = plt.subplots(figsize=(7, 4))
        sizes = [max(run["rows"], 1) for run in runs]
        for name in ("accept", "read", "list"):
            axis.plot(sizes, [run[name][1] for run in runs], marker="o", label=f"{name} p99")
        axis.set_xscale("symlog", linthresh=1000)
        axis.set_xlabel("payments in the table")
        axis.set_ylabel("ms")
        axis.legend()
        axis.set_title("Latency as the table grows")
        figure.tight_layout()
        figure.savefig(REPORTS / "bench_table_size.png", dpi=120)
        plt.close(figure)
