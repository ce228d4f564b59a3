"""The chaos table: one row per scenario, the same in the test output and the report."""

import os
from pathlib import Path
from typing import Any

REPORT_DIR = Path(os.environ.get("CHAOS_REPORT_DIR", "reports/chaos"))

COLUMNS = (
    ("scenario", "scenario"),
    ("submitted", "submitted"),
    ("accepted", "accepted"),
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("double_charges", "duplicates"),
    ("lost", "lost"),
    ("not_final", "unfinished"),
    ("missing_emails", "missing emails"),
    ("backward_events", "backward moves"),
    ("seconds_to_drain", "drain s"),
    # Failover drills (tests/chaos/test_drills.py): how long the fault left the system
    # without a broker master/leader or a writable database; blank for other scenarios.
    ("seconds_without_leader", "no leader s"),
    # Payments whose charge a sweeper had to queue again (the fault lost the first).
    ("needed_sweeper", "swept"),
)


def format_table(reports: list[Any]) -> str:
    rows = [
        [
            f"{value:.1f}" if isinstance(value, float) else str(value)
            for value in (
                (r.get(key, "") if isinstance(r, dict) else getattr(r, key, ""))
                for key, _ in COLUMNS
            )
        ]
        for r in reports
    ]
    header = [title for _, title in COLUMNS]
    widths = [max(len(x) for x in column) for column in zip(header, *rows, strict=False)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-|-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
