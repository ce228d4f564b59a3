"""The compressed wall clock the production-threshold scenario runs the service on."""

import json
import subprocess
import sys
import time

import pytest

from tests.chaos.fast_clock import ServiceClock, build_shim

pytestmark = pytest.mark.timeout(60)

READ_CLOCKS = """
import datetime, json, time
wall, monotonic, now = time.time(), time.monotonic(), datetime.datetime.now().timestamp()
time.sleep(0.5)
print(json.dumps({
    "wall": time.time() - wall,
    "monotonic": time.monotonic() - monotonic,
    "datetime": datetime.datetime.now().timestamp() - now,
    "at": time.time(),
}))
"""


def read_clocks(clock: ServiceClock, tmp_path) -> dict[str, float]:
    run = subprocess.run(
        [sys.executable, "-c", READ_CLOCKS],
        env={**clock.environment(build_shim(tmp_path))},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout)  # type: ignore[no-any-return]


def test_the_wall_clock_runs_rate_times_faster_and_the_monotonic_clock_does_not(tmp_path):
    clock = ServiceClock.starting_now(rate=30)

    seen = read_clocks(clock, tmp_path)

    assert 0.5 <= seen["monotonic"] < 1.5
    assert seen["wall"] == pytest.approx(seen["monotonic"] * 30, rel=0.05)
    assert seen["datetime"] == pytest.approx(seen["wall"], rel=0.05)


def test_processes_started_apart_agree_on_the_service_time(tmp_path):
    clock = ServiceClock.starting_now(rate=30)

    first = read_clocks(clock, tmp_path)["at"]
    second = read_clocks(clock, tmp_path)["at"]

    # Both count from the shared base, so their readings map back onto real time.
    assert second > first
    assert clock.to_real(second) == pytest.approx(time.time(), abs=2)


def test_rate_one_is_real_time():
    clock = ServiceClock()

    assert not clock.compressed
    assert clock.to_real(1_700_000_000.0) == 1_700_000_000.0
