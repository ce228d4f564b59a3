"""Failpoints: every named step is in the code and in the crash-point matrix; arming kills once."""

import json
import os
import re
import subprocess
import sys

import pytest

from config import failpoints
from tests.chaos import matrix
from tests.processes import PROJECT_ROOT

SERVICE_PACKAGES = ("config", "payments", "outbox", "notifications")
CALL = re.compile(r"""failpoints\.maybe_crash\(\s*["']([^"']+)["']\s*\)""")


def steps_in_code() -> list[str]:
    return [
        step
        for package in SERVICE_PACKAGES
        for path in sorted((PROJECT_ROOT / package).rglob("*.py"))
        for step in CALL.findall(path.read_text())
    ]


def test_every_registered_step_is_in_the_code_once_and_nothing_else_is():
    found = steps_in_code()

    assert sorted(found) == sorted(failpoints.STEPS)


def test_the_matrix_drives_every_registered_step():
    assert {cell.step for cell in matrix.CELLS} == set(failpoints.STEPS)
    assert len({cell.name for cell in matrix.CELLS}) == len(matrix.CELLS)


# The module alone, without the config package (which loads the Celery app): a fresh
# interpreter passes a step in a few milliseconds.
LOAD_FAILPOINTS = (
    "import importlib.util as u; s = u.spec_from_file_location('f', 'config/failpoints.py'); "
    "failpoints = u.module_from_spec(s); s.loader.exec_module(failpoints)"
)


def pass_step(step: str, env: dict[str, str], *, fork_first: bool = False) -> int:
    """Run a fresh interpreter that passes `step`; its exit status (-9: killed by SIGKILL)."""
    code = f"{LOAD_FAILPOINTS}; failpoints.maybe_crash({step!r})"
    if fork_first:
        # A child passes the step, as a Celery pool child would; the parent waits for it.
        code = f"import os\nif os.fork() == 0:\n    {code}\n    os._exit(0)\nos.wait()"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_FAILPOINT")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={**clean, **env},
        start_new_session=True,  # its own group: a group kill stays inside it
        timeout=30,
        check=False,
    ).returncode


def test_an_armed_step_kills_the_first_process_to_pass_it_and_no_later_one(tmp_path):
    env = {"PAYMENTS_FAILPOINT_DIR": str(tmp_path)}
    step = "charge.before_create_intent"
    (tmp_path / step).touch()

    assert pass_step("charge.after_confirm_before_commit", env) == 0  # not armed
    assert pass_step(step, env) == -9
    marker = json.loads((tmp_path / f"{step}.crashed").read_text())
    assert marker["step"] == step
    assert pass_step(step, env) == 0  # the restarted process carries on


def test_of_processes_passing_an_armed_step_at_once_exactly_one_dies(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_FAILPOINT")},
        "PAYMENTS_FAILPOINT_DIR": str(tmp_path),
    }
    (tmp_path / "refund.before_stripe").touch()
    code = f"{LOAD_FAILPOINTS}; failpoints.maybe_crash('refund.before_stripe')"
    racers = [
        subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env) for _ in range(6)
    ]

    assert sorted(racer.wait(timeout=30) for racer in racers) == [-9, 0, 0, 0, 0, 0]


def test_the_group_mode_takes_the_parent_with_the_child_that_passed_the_step(tmp_path):
    (tmp_path / "notification.before_send").touch()
    env = {"PAYMENTS_FAILPOINT_DIR": str(tmp_path), "PAYMENTS_FAILPOINT_KILL": "group"}

    # A pool child passes the step; its worker's main process dies with it.
    assert pass_step("notification.before_send", env, fork_first=True) == -9


def test_the_process_mode_leaves_the_parent_alive(tmp_path):
    (tmp_path / "notification.before_send").touch()
    env = {"PAYMENTS_FAILPOINT_DIR": str(tmp_path)}

    assert pass_step("notification.before_send", env, fork_first=True) == 0
    assert (tmp_path / "notification.before_send.crashed").exists()


@pytest.mark.parametrize(
    ("armed_step", "rate", "expected"),
    [
        ("outbox.after_commit_before_publish", "1", -9),
        ("outbox.after_commit_before_publish", "0", 0),
        ("charge.before_create_intent", "1", 0),
    ],
)
def test_the_rate_mode_kills_at_the_armed_step_only(tmp_path, armed_step, rate, expected):
    (tmp_path / f"{armed_step}.rate").write_text(rate)
    env = {"PAYMENTS_FAILPOINT_DIR": str(tmp_path)}

    assert pass_step("outbox.after_commit_before_publish", env) == expected


def test_a_rate_file_kills_while_it_exists_and_every_time(tmp_path):
    env = {"PAYMENTS_FAILPOINT_DIR": str(tmp_path)}
    step = "outbox.after_commit_before_publish"
    rate_file = tmp_path / f"{step}.rate"

    rate_file.write_text("1")
    assert [pass_step(step, env) for _ in range(2)] == [-9, -9]  # not once: every pass
    assert pass_step("charge.before_create_intent", env) == 0  # another step is not armed
    rate_file.write_text("0")
    assert pass_step(step, env) == 0
    rate_file.unlink()
    assert pass_step(step, env) == 0


def test_unarmed_a_pass_touches_no_file(monkeypatch):
    # This process runs unarmed, as every deployment does.
    assert failpoints._ARMING_DIR is None

    def no_filesystem(*args, **kwargs):
        raise AssertionError("an unarmed failpoint touched the filesystem")

    monkeypatch.setattr(os.path, "exists", no_filesystem)
    monkeypatch.setattr(os, "open", no_filesystem)

    for step in failpoints.STEPS:
        failpoints.maybe_crash(step)
