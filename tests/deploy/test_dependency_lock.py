"""`make test` stops, saying what to run, when pyproject.toml and uv.lock disagree (issue 19)."""

import shutil
import subprocess
from pathlib import Path

from tests.processes import PROJECT_ROOT

# What `make lock-check` reads; copied with their times so make rebuilds nothing.
FILES = ("Makefile", "pyproject.toml", "uv.lock", "scripts/bootstrap-uv.txt")


def lock_check(checkout: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "lock-check", f"TOOLS={PROJECT_ROOT / '.tools'}"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_lock_check_passes_in_step_and_names_make_lock_when_a_dependency_is_added(tmp_path):
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, tmp_path / name)
    in_step = lock_check(tmp_path)
    assert in_step.returncode == 0, in_step.stderr

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "dependencies = [\n", 'dependencies = [\n    "six>=1.16",\n', 1
        )
    )
    drifted = lock_check(tmp_path)

    assert drifted.returncode != 0
    assert "uv.lock does not match pyproject.toml: run 'make lock'" in drifted.stderr
    # Nothing was rewritten behind the user's back.
    assert (tmp_path / "uv.lock").read_bytes() == (PROJECT_ROOT / "uv.lock").read_bytes()
