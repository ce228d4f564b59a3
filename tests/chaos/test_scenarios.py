"""The fault suite (`make chaos`): every scenario at N payments, 0 lost, 0 double charges."""

import pytest
from django.conf import settings

from tests.chaos.conftest import chaos_count
from tests.chaos.nemeses import SCENARIOS

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_invariants_hold_under(chaos, scenario):
    report = chaos(scenario, chaos_count(500))

    assert report.violations() == []
    assert report.accepted == report.submitted
    assert report.in_database == report.accepted
    assert report.refunds_accepted > 0
    assert report.refunds_refused > 0  # some racing partials went past the charge
    if SCENARIOS[scenario].webhooks:
        assert report.webhooks_delivered > 0
    if SCENARIOS[scenario].must_sweep:
        # Charges were lost, and only a sweeper at the production threshold finished them:
        # the slowest waited that long on the service's clock, far less on the real one.
        assert report.needed_sweeper > 0
        assert report.slowest_service_seconds >= settings.STALLED_PAYMENT_SECONDS
        assert report.slowest_real_seconds < settings.STALLED_PAYMENT_SECONDS / 10
