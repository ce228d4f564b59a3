"""The Black Friday section of reports/bench.md and its plot, service and peer side by side."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tests.bench import surge

# Stripe's default per-endpoint limit, which the drain is measured against.
LIMIT_PER_SECOND = 25.0
SIDES = (("service", "this service (`make up`)"), ("peer", "the guide's snippet (peer)"))


def section(results: dict[str, Any], table: Any) -> list[str]:
    part = results.get("surge")
    if not part:
        return []
    rows = []
    labels = [
        ("offered", "payments offered", "{:,}"),
        ("accepted", "accepted (202)", "{:,}"),
        ("errors", "errors (not 202)", "{:,}"),
        ("surge_accept_p50_ms", "accept p50 during the surge", "{:.0f} ms"),
        ("surge_accept_p99_ms", "accept p99 during the surge", "{:.0f} ms"),
        ("final_during_surge_per_s", "final per second during the surge", "{:.1f}/s"),
        ("drain_per_s", "drained per second after the surge", "{:.1f}/s"),
        ("drain_share_of_limit", "drain / Stripe's 25/s limit", "{:.0%}"),
        ("drained_in_s", "seconds from the surge's end to the last final", "{:.0f} s"),
        ("stripe_requests", "Stripe requests", "{:,}"),
        ("stripe_429", "Stripe 429s", "{:,}"),
        ("stripe_429_share", "429s / Stripe requests", "{:.2%}"),
        ("not_final", "accepted, never final (lost or never charged)", "{:,}"),
        ("charged_twice", "payments charged twice (fake's ledger)", "{:,}"),
    ]
    for key, label, shape in labels:
        rows.append(
            [label]
            + [
                shape.format(part[side]["summary"][key]) if side in part else "—"
                for side, _ in SIDES
            ]
        )
    return [
        "## Black Friday: a surge against Stripe's pace",
        "",
        f"Open loop: {surge.SURGE_RATE:.0f} payments/s offered for {part['surge_seconds']:.0f} s, "
        f"then {surge.TRICKLE_RATE:.0f}/s until every accepted payment is final (or nothing "
        f"moved for {surge.STALL_SECONDS:.0f} s). Each side has its own fake Stripe in the "
        "live profile (latency per endpoint, 100/s per account, 25/s per endpoint). "
        f"Load before: {part['load']}.",
        "",
        table(["", *[label for _, label in SIDES]], rows),
        "",
        "![surge](bench_surge.png)",
        "",
    ]


def priority_section(results: dict[str, Any], table: Any) -> list[str]:
    """Accept latency during the surge, workers at the web's priority and below it."""
    part = results.get("priority")
    if not part:
        return []
    sides = [name for name in ("nice 0", "nice 10") if name in part]
    rows = [
        [label] + [shape.format(part[side][key]) for side in sides]
        for key, label, shape in (
            ("accepted", "accepted (202)", "{:,}"),
            ("errors", "errors (not 202)", "{:,}"),
            ("surge_accept_p50_ms", "accept p50", "{:.0f} ms"),
            ("surge_accept_p99_ms", "accept p99", "{:.0f} ms"),
            ("final_during_surge_per_s", "final per second meanwhile", "{:.1f}/s"),
        )
    ]
    return [
        "## The web's CPU priority during the surge",
        "",
        f"`make up`'s stack offered {surge.SURGE_RATE:.0f} payments/s for "
        f"{part['surge_seconds']:.0f} s, once with every Celery worker at the web's priority "
        "(`WORKER_NICE=0`) and once at make up's default (`WORKER_NICE=10`). "
        f"Load before: {part['load']}.",
        "",
        table(["", *(f"`WORKER_NICE`={side.split()[1]}" for side in sides)], rows),
        "",
    ]


def pools_section(results: dict[str, Any], table: Any) -> list[str]:
    """The charges queue's pool candidates draining one backlog (tests/bench/worker_pools.py)."""
    part = results.get("pools")
    if not part:
        return []
    rows = [
        [
            run["label"],
            str(run["slots"]),
            f"{run['charges_per_second']:.1f}/s",
            f"{run['charges_per_second'] / LIMIT_PER_SECOND:.0%}",
            f"{run['cpu_ms_per_charge']:.1f}",
            f"{run['resident_mb']:.0f} MB",
            f"{run['stripe_429']:,} of {run['stripe_requests']:,}",
            f"{run['final']:,} of {run['payments']:,}",
        ]
        for run in part["runs"]
    ]
    backlog = part["runs"][0]["payments"] if part["runs"] else 0
    return [
        "## Worker pools on the charges queue",
        "",
        f"`make up`'s stack with the live fake Stripe; {backlog:,} payments accepted while the "
        "two charge workers were stopped, then the workers started. Drain: charges per second "
        "between 10% and 90% of the backlog. CPU and memory: the charge workers only. "
        f"Load before: {part['load']}.",
        "",
        table(
            [
                "charge workers (2 of them)",
                "slots",
                "drain",
                f"of Stripe's {LIMIT_PER_SECOND:.0f}/s",
                "CPU ms per charge",
                "resident memory",
                "Stripe 429s",
                "final",
            ],
            rows,
        ),
        "",
    ]


def plot(results: dict[str, Any], reports: Path) -> None:
    part = results.get("surge")
    if not part:
        return
    sides = [(side, label) for side, label in SIDES if side in part]
    figure, axes = plt.subplots(4, len(sides), figsize=(7 * len(sides), 12), squeeze=False)
    for column, (side, label) in enumerate(sides):
        series = part[side]["series"]
        seconds = list(range(len(series["offered"])))
        rates, backlog, limited, latency = (axes[row][column] for row in range(4))
        for name in ("offered", "accepted", "final"):
            rates.plot(seconds, series[name], label=name, linewidth=1)
        rates.set_ylabel("payments per second")
        rates.set_title(label)
        rates.legend(loc="upper right")
        backlog.plot(seconds, series["backlog"], color="tab:red")
        backlog.set_ylabel("backlog (accepted, not final)")
        limited.bar(seconds, series["stripe_429"], width=1.0, color="tab:orange")
        limited.set_ylabel("Stripe 429s per second")
        windows = part[side]["windows"]
        starts = [window["start"] for window in windows]
        latency.plot(starts, [w["p50_ms"] for w in windows], marker=".", label="p50")
        latency.plot(starts, [w["p99_ms"] for w in windows], marker=".", label="p99")
        latency.set_yscale("log")
        latency.set_ylabel("accept latency (ms), per 5 s")
        latency.set_xlabel("seconds since the surge began")
        latency.legend(loc="upper right")
        for axis in (rates, backlog, limited, latency):
            axis.axvspan(0, part["surge_seconds"], color="grey", alpha=0.1)
    figure.tight_layout()
    figure.savefig(reports / "bench_surge.png", dpi=110)
    plt.close(figure)
