"""A short slice of the Redis Sentinel drill in `make test`: the failover path stays proven."""

import pytest

from tests.chaos.drills import run_sentinel_drill

pytestmark = pytest.mark.timeout(120)


def test_smoke_redis_master_killed_sentinel_promotes_a_replica(transactional_db, tmp_path):
    row = run_sentinel_drill(tmp_path, 40)

    assert 0 < row["seconds_without_leader"] < 15
    assert row["queue_status_followed"]
