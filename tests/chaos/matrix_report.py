"""The crash-point matrix's results: one JSON file per cell, a table of step by outcome.

No Django here: `python -m tests.chaos.report` reads these files without a database.
"""

import json
from pathlib import Path
from typing import Any

from tests.chaos.table import REPORT_DIR, aligned

MATRIX_DIR = REPORT_DIR / "matrix"

COLUMNS = (
    ("cell", "step @ process"),
    ("killed", "killed"),
    ("payments", "payments"),
    ("refunds", "refunds"),
    ("lost", "lost"),
    ("double_charges", "double charges"),
    ("unfinished", "unfinished"),
    ("email_problems", "email problems"),
    # The same Message-ID delivered again: expected after a crash between send and mark.
    ("email_redeliveries", "emails resent"),
    ("seconds_to_recover", "recovered s"),
    ("outcome", "outcome"),
)


def write_row(row: dict[str, Any], directory: Path = MATRIX_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{row['cell']}.json").write_text(json.dumps(row))


def read_rows(directory: Path = MATRIX_DIR) -> list[dict[str, Any]]:
    rows = [json.loads(path.read_text()) for path in directory.glob("*.json")]
    return sorted(rows, key=lambda row: row["order"])


def format_matrix(rows: list[dict[str, Any]]) -> str:
    cells = [
        [f"{row[key]:.1f}" if isinstance(row[key], float) else str(row[key]) for key, _ in COLUMNS]
        for row in rows
    ]
    return aligned([title for _, title in COLUMNS], cells)


def markdown_section(directory: Path = MATRIX_DIR) -> str:
    """The matrix for reports/chaos.md; empty when the matrix did not run."""
    rows = read_rows(directory)
    if not rows:
        return ""
    passed = sum(1 for row in rows if row["outcome"] == "ok")
    return (
        "## Crash-point matrix\n\n"
        "Each row: the step's failpoint armed in one process (a gunicorn worker for `web`, "
        "a whole Celery worker, main process and pool, for `worker`), a small load driven "
        "through it, the process killed there by SIGKILL, restarted, and DESIGN.md's "
        f"invariants checked once everything was final. {passed} of {len(rows)} cells "
        f"passed.\n\n```\n{format_matrix(rows)}\n```\n"
    )
