"""The crash-point matrix (`make chaos`): a process killed at every step, every cell passing.

CHAOS_MATRIX_CELLS=<step or step@process>,... runs a slice, e.g. two cells in about a minute.
"""

import os

import pytest

from tests.chaos import matrix
from tests.chaos.matrix_report import format_matrix
from tests.chaos.stack import running_stack

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1500)]


def test_invariants_hold_after_a_crash_at_every_step(transactional_db, tmp_path, monkeypatch):
    cells = matrix.selected_cells(os.environ.get("CHAOS_MATRIX_CELLS", ""))
    arming = matrix.Arming(tmp_path / "failpoints")
    # Workers and beats inherit this process's environment (tests/processes.py); the web
    # gets its own directory, so a step both run can be armed in one of them.
    for name, value in arming.environment(matrix.WORKER).items():
        monkeypatch.setenv(name, value)
    web_env = {**arming.environment(matrix.WEB), **matrix.WEB_ENV}
    with running_stack(tmp_path, web_env=web_env, sweepers=matrix.SWEEPERS) as stack:
        rows = matrix.run_matrix(stack, arming, cells)

    print(format_matrix(rows))
    assert {row["cell"]: row["violations"] for row in rows if row["violations"]} == {}
    assert len(rows) == len(cells)
