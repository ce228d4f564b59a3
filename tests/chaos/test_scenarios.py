"""The fault suite (`make chaos`): every scenario at N payments, 0 lost, 0 double charges."""

import pytest

from tests.chaos.conftest import chaos_count
from tests.chaos.nemeses import SCENARIOS

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_invariants_hold_under(chaos, scenario):
    report = chaos(scenario, chaos_count(500))

    assert report.violations() == []
    assert report.accepted == report.submitted
    assert report.in_database == report.accepted
