"""A bounded slice of the fault suite that runs in `make test` on every change."""

import pytest

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("scenario", ["kill_pool_child", "redis_flushall", "stripe_faults"])
def test_smoke_invariants_hold_under(chaos, scenario):
    report = chaos(scenario, 40)

    assert report.violations() == []
    assert report.in_database == report.accepted == report.submitted
