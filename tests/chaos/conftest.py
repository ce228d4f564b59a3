"""Chaos fixtures: a fresh stack of real processes per scenario."""

import os

import pytest

from tests.chaos.fast_clock import ServiceClock
from tests.chaos.nemeses import SCENARIOS
from tests.chaos.runner import run_scenario
from tests.chaos.stack import FAST_SWEEPERS, running_stack


@pytest.fixture
def chaos(transactional_db, tmp_path):
    """Run a named scenario against its own stack; returns the checked report."""

    def run(name: str, count: int):
        scenario = SCENARIOS[name]
        with running_stack(
            tmp_path,
            broker=scenario.broker,
            worker_args=scenario.worker_args,
            beats=scenario.beats,
            sweepers={} if scenario.production_sweepers else FAST_SWEEPERS,
            clock=ServiceClock.starting_now(scenario.clock_rate),
            webhooks=scenario.webhooks,
            service_env=scenario.service_env,
        ) as stack:
            if scenario.stripe_profile:
                stack.set_stripe_profile(scenario.stripe_profile)
            return run_scenario(name, stack, scenario.nemesis, count=count)

    return run


def chaos_count(default: int) -> int:
    return int(os.environ.get("CHAOS_N", default))
