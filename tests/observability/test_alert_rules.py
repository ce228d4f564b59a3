"""The alert rules and the Prometheus config, checked and unit-tested by promtool."""

import shutil
import subprocess

import pytest

from tests.processes import PROJECT_ROOT

PROMETHEUS_DIR = PROJECT_ROOT / "docker" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: `make install` runs scripts/system_packages.sh"
    return path


@pytest.mark.parametrize(
    "arguments",
    [
        ["check", "rules", "alerts.yml"],
        ["check", "config", "prometheus.yml"],
        ["test", "rules", "alerts_test.yml"],
    ],
    ids=" ".join,
)
def test_promtool_accepts(promtool, arguments):
    result = subprocess.run(
        [promtool, *arguments], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stdout + result.stderr
