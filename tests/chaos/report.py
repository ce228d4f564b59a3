"""`python -m tests.chaos.report`: the chaos table (markdown) and a plot of completions."""

import json
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tests.chaos.table import REPORT_DIR, format_table

OUTPUT_DIR = Path(os.environ.get("CHAOS_OUTPUT_DIR", "reports"))


def main() -> int:
    reports = [json.loads(p.read_text()) for p in sorted(REPORT_DIR.glob("*.json"))]
    if not reports:
        print(f"no scenario reports in {REPORT_DIR}; run `make chaos` first", file=sys.stderr)
        return 1
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    table = format_table(reports)
    faults = "\n".join(f"- {r['scenario']}: {'; '.join(r['faults'])}" for r in reports)
    (OUTPUT_DIR / "chaos.md").write_text(
        f"# Chaos report\n\n```\n{table}\n```\n\nFaults injected:\n\n{faults}\n\n![](chaos.png)\n"
    )
    _plot(reports, OUTPUT_DIR / "chaos.png")
    print(table)
    print(f"\nwrote {OUTPUT_DIR / 'chaos.md'} and {OUTPUT_DIR / 'chaos.png'}")
    return 0


def _plot(reports: list[dict], path: Path) -> None:
    columns = 3
    rows = (len(reports) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.2 * rows), squeeze=False)
    for axis, report in zip(axes.flat, reports, strict=False):
        start = report["load_started_at"]
        times = [t - start for t in report["completions"]]
        axis.plot(times, range(1, len(times) + 1), color="tab:blue", linewidth=1.5)
        for begin, end in report["fault_windows"]:
            axis.axvspan(begin - start, end - start, color="tab:red", alpha=0.2)
        verdict = "OK" if not _violations(report) else "VIOLATED"
        axis.set_title(f"{report['scenario']} ({verdict})", fontsize=10)
        axis.set_xlabel("seconds since load started")
        axis.set_ylabel("payments final")
    for axis in list(axes.flat)[len(reports) :]:
        axis.axis("off")
    figure.suptitle("Payments completed over time; red: fault windows", fontsize=12)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def _violations(report: dict) -> list[str]:
    keys = ("lost", "not_final", "double_charges", "charges_for_unpaid", "missing_emails",
            "duplicate_emails", "backward_events")  # fmt: skip
    # The disaster-recovery drill loses its recovery point by design (rpo_payments says
    # how many); anything else lost is a violation there too.
    allowed = {"lost": report.get("rpo_payments", 0)}
    return [k for k in keys if report.get(k) and report.get(k) != allowed.get(k)]


if __name__ == "__main__":
    sys.exit(main())
