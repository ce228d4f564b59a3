"""One beat at a time: a DatabaseScheduler that dispatches only while it holds a PostgreSQL lock."""

import logging
import os
import socket
import time
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)

# pg_try_advisory_lock key shared by every beat of this deployment (any fixed int64).
LEADER_LOCK_KEY = 0x5041_594D_4245_4154  # "PAYMBEAT"
APPLICATION_NAME_PREFIX = "celery-beat"
# How often a standby asks for the lock: the takeover delay after a leader dies.
STANDBY_POLL_SECONDS = 1.0


def _leader_connection() -> psycopg.Connection[Any]:
    database = settings.DATABASES["default"]
    return psycopg.connect(
        host=database["HOST"] or None,
        port=database["PORT"] or None,
        dbname=database["NAME"],
        user=database["USER"] or None,
        password=database["PASSWORD"] or None,
        autocommit=True,
        connect_timeout=5,
        # Shows in pg_stat_activity, so operators (and queue_status) can see the leader.
        application_name=f"{APPLICATION_NAME_PREFIX}@{socket.gethostname()}:{os.getpid()}",
    )


def current_leader() -> str | None:
    """The application_name of the beat holding the leader lock, or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND ((l.classid::bigint << 32) | l.objid::bigint) = %s
            """,
            [LEADER_LOCK_KEY],
        )
        row = cursor.fetchone()
    return str(row[0]) if row else None


def claim_tick(task_name: str, period_seconds: float, now: float | None = None) -> bool:
    """True for the first dispatcher of this task in this period, False for any other.

    A compare-and-set on django_celery_beat's own row: even two beats that both believe
    they lead (during a takeover) send each tick once.
    """
    now = time.time() if now is None else now
    period = max(period_seconds, 1.0)
    period_start = now - (now % period)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE django_celery_beat_periodictask
               SET last_run_at = to_timestamp(%s)
             WHERE name = %s AND (last_run_at IS NULL OR last_run_at < to_timestamp(%s))
            """,
            [now, task_name, period_start],
        )
        return bool(cursor.rowcount == 1)


class LeaderDatabaseScheduler(DatabaseScheduler):  # type: ignore[misc]
    """Dispatches only while holding a session-level advisory lock on its own connection.

    The lock lives as long as that connection: when the leader dies (even kill -9) the
    server drops it and a standby takes it within STANDBY_POLL_SECONDS.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lock_connection: psycopg.Connection[Any] | None = None
        self._leading = False
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self._hold_leadership():
            return STANDBY_POLL_SECONDS
        return float(super().tick(*args, **kwargs))

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        period = getattr(entry.schedule, "run_every", None)
        seconds = period.total_seconds() if period is not None else 60.0
        if not claim_tick(entry.name, seconds):
            logger.info("beat: %s already dispatched this period; skipped", entry.name)
            return
        super().apply_entry(entry, producer=producer)

    def close(self) -> None:
        super().close()
        if self._lock_connection is not None:
            self._lock_connection.close()

    def _hold_leadership(self) -> bool:
        try:
            if self._lock_connection is None or self._lock_connection.closed:
                self._lock_connection = _leader_connection()
                self._leading = False
            if self._leading:
                # The lock lives with the session: a live session still holds it.
                self._lock_connection.execute("SELECT 1")
            else:
                row = self._lock_connection.execute(
                    "SELECT pg_try_advisory_lock(%s)", [LEADER_LOCK_KEY]
                ).fetchone()
                self._leading = bool(row and row[0])
                if self._leading:
                    logger.warning("beat: became the leader; dispatching schedules")
        except psycopg.Error as error:
            if self._leading:
                logger.error("beat: lost the leader lock (%s); standing by", type(error).__name__)
            self._leading = False
            if self._lock_connection is not None:
                self._lock_connection.close()
            self._lock_connection = None
        return self._leading
