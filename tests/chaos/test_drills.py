"""Failover drills (`make chaos`): a real cluster loses its leader under the chaos load.

Each drill starts a cluster of real processes on loopback (tests/chaos/clusters), points
the whole service at it, kills -9 the leader mid-load and checks the same invariants as
every chaos scenario: 0 lost, 0 double charges, every accepted payment final.
"""

import pytest
from django.db import connection

from tests.chaos.clusters.postgres import PostgresCluster, dump_database
from tests.chaos.clusters.rabbitmq import RabbitCluster
from tests.chaos.clusters.redis_sentinel import SentinelCluster
from tests.chaos.conftest import chaos_count
from tests.chaos.disaster_recovery import run_disaster_recovery
from tests.chaos.drills import (
    SWEEPERS_SLOWER_THAN_A_FAILOVER,
    DrillMeasures,
    assert_invariants,
    checker_reads_from,
    kill_postgres_primary,
    kill_queue_leader_then_lose_quorum,
    lose_zone_a,
    record,
    run_sentinel_drill,
    sentinel_env,
)
from tests.chaos.runner import run_scenario
from tests.chaos.stack import running_stack

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]


def test_redis_sentinel_failover(transactional_db, tmp_path):
    row = run_sentinel_drill(tmp_path, chaos_count(500))

    # Sentinel notices in DOWN_AFTER_MILLISECONDS (1 s) and promotes within seconds.
    assert 0 < row["seconds_without_leader"] < 15
    assert row["queue_status_followed"]


def seed_from_test_database() -> str:
    """The test database as SQL (migrated schema, no payments): a cluster starts from it."""
    database = connection.settings_dict
    return dump_database(
        f"host={database['HOST']} port={database['PORT']} "
        f"user={database['USER']} dbname={database['NAME']}"
    )


def test_postgres_failover(transactional_db, tmp_path):
    cluster = PostgresCluster(database=str(connection.settings_dict["NAME"]))
    measures = DrillMeasures()
    try:
        cluster.start(seed_sql=seed_from_test_database())
        with (
            checker_reads_from(cluster.django_settings()),
            running_stack(
                tmp_path,
                cluster_env={"DATABASE_URL": cluster.url, **SWEEPERS_SLOWER_THAN_A_FAILOVER},
                webhooks=True,
            ) as stack,
        ):
            report = run_scenario(
                "drill_postgres_failover",
                stack,
                kill_postgres_primary(cluster, measures),
                count=chaos_count(500),
            )
            assert_invariants(report)
            row = record(report, measures)
    finally:
        cluster.stop()

    # Synchronous replication: every 202 was on the standby before it was sent.
    assert row["lost"] == 0
    assert row["seconds_without_leader"] < 15


def test_rabbitmq_cluster_loses_a_leader_then_its_quorum(transactional_db, tmp_path):
    cluster = RabbitCluster()
    measures = DrillMeasures()
    try:
        cluster.start()
        cluster_env = {"CELERY_BROKER_URL": cluster.broker_url, **SWEEPERS_SLOWER_THAN_A_FAILOVER}
        with running_stack(
            tmp_path, broker="external", cluster_env=cluster_env, webhooks=True
        ) as stack:
            report = run_scenario(
                "drill_rabbitmq_cluster",
                stack,
                kill_queue_leader_then_lose_quorum(cluster, measures),
                count=chaos_count(500),
            )
            assert_invariants(report)
            row = record(report, measures, answers_without_quorum=measures.answers_without_quorum)
    finally:
        cluster.stop()

    # Without a quorum nothing can be queued, and the API still takes every payment.
    assert row["answers_without_quorum"] == [202] * 5


def test_zone_a_goes_dark(transactional_db, tmp_path):
    """Zones: a = Redis master, Sentinel, worker1, beat1; b and c = replicas, Sentinels,
    worker2, worker3, beat2 and the web (a load balancer has already left zone a's web)."""
    cluster = SentinelCluster(tmp_path / "redis")
    measures = DrillMeasures()
    try:
        cluster.start()
        with running_stack(
            tmp_path,
            broker="external",
            cluster_env={**sentinel_env(cluster), **SWEEPERS_SLOWER_THAN_A_FAILOVER},
            workers=3,
            beats=2,
            webhooks=True,
        ) as stack:
            report = run_scenario(
                "drill_zone_loss", stack, lose_zone_a(cluster, measures), count=chaos_count(500)
            )
            assert_invariants(report)
            record(report, measures)
    finally:
        cluster.stop()


def test_disaster_recovery_from_a_mid_load_backup(transactional_db, tmp_path):
    recovery = run_disaster_recovery(tmp_path, seed_from_test_database(), chaos_count(500))
    report = recovery.report

    # Every payment the backup has is final, none charged twice or charged unpaid, one
    # receipt each: payments_replay ran twice and Stripe's idempotency kept it at one.
    assert report.not_final == 0
    assert report.double_charges == 0
    assert report.charges_for_unpaid == 0
    assert report.missing_emails == report.duplicate_emails == report.backward_events == 0
    # What the backup lost is the recovery point; reconciliation names the ones that
    # reached Stripe, so a person can restore them from Stripe's records.
    assert report.lost == recovery.row["rpo_payments"]
    # The region died after charging some of what the backup lacks (it waits for that).
    assert 0 < recovery.row["charged_but_lost"] <= recovery.missing_locally <= report.lost
    assert report.lost > 0, "the dump was taken mid-load: the load went on after it"
