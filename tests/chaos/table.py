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
    ("refunds_succeeded", "refunds"),
    ("refunds_refused", "refunds refused"),
    ("refunds_pending", "refunds stuck"),
    ("double_refunds", "double refunds"),
    ("webhooks_delivered", "webhooks"),
    ("idle_fault_windows", "idle faults"),
    # Payments whose charge a sweeper had to queue again (the fault lost the first).
    ("needed_sweeper", "swept"),
    ("seconds_to_drain", "drain s"),
    # Failover drills (tests/chaos/test_drills.py): how long the fault left the system
    # without a broker master/leader or a writable database; blank for other scenarios.
    ("seconds_without_leader", "no leader s"),
)

# The report fields that must be 0: each one counts breaches of an invariant.
VIOLATIONS = (
    "lost", "not_final", "double_charges", "charges_for_unpaid", "missing_emails",
    "duplicate_emails", "backward_events",
    "refunds_pending", "refunds_lost", "refunds_unanswered", "refunds_over_charge_here",
    "refunds_over_charge_at_stripe", "refunds_mismatched", "double_refunds",
    "missing_refund_emails",
    "webhooks_lost", "webhooks_unapplied", "webhooks_unmatched",
    "idle_fault_windows",
)  # fmt: skip


def violations(row: dict[str, Any]) -> list[str]:
    # The disaster-recovery drill loses its recovery point by design (rpo_payments says
    # how many, each checked to be found again by reconciliation); any other loss counts.
    allowed = {"lost": row.get("rpo_payments", 0)}
    return [
        f"{name}={row[name]}"
        for name in VIOLATIONS
        if row.get(name) and row.get(name) != allowed.get(name)
    ]


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
    return aligned([title for _, title in COLUMNS], rows)


def aligned(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table, columns padded to their widest cell (the test output and reports)."""
    widths = [max(len(x) for x in column) for column in zip(header, *rows, strict=False)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-|-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
