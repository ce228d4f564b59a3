"""One beat at a time: a DatabaseScheduler that dispatches only while it holds a PostgreSQL lock.

The leader also publishes work whose next attempt is due (outbox/due.py) on every tick,
several times a second: retries and rate-limit deferrals live in PostgreSQL, and this is
the one process that hands them back to the broker.
"""

import logging
import os
import socket
import time
from typing import Any

import psycopg
from django.conf import settings
from django.db import Error as DjangoDatabaseError
from django.db import connection
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)

# pg_try_advisory_lock key shared by every beat of this deployment (any fixed int64).
LEADER_LOCK_KEY = 0x5041_594D_4245_4154  # "PAYMBEAT"
APPLICATION_NAME_PREFIX = "celery-beat"
# How often a standby asks for the lock: the takeover delay after a leader dies.
STANDBY_POLL_SECONDS = 1.0
# How often the leader publishes due work. A rate-limit deferral lasts 0.5 s at least
# (STRIPE_PACE_MIN_DEFERRAL_SECONDS): a poll at half of that adds 0.125 s on average.
DUE_POLL_SECONDS = 0.25


def _leader_connection() -> psycopg.Connection[Any]:
    database = settings.DATABASES["default"]
    return psycopg.connect(
        **_client_keepalives(),
        options=_server_keepalives(),
        host=database["HOST"] or None,
        port=database["PORT"] or None,
        dbname=database["NAME"],
        user=database["USER"] or None,
        password=database["PASSWORD"] or None,
        autocommit=True,
        connect_timeout=5,
        # Shows in pg_stat_activity, so operators (and queue_status) can see the leader.
        application_name=f"{APPLICATION_NAME_PREFIX}@{socket.gethostname()}:{os.getpid()}",
        # DATABASE_URL may list a primary and its standbys (libpq multi-host): the lock is
        # taken where writes go, never on a standby that a failover would leave behind.
        **_session_attrs(database.get("OPTIONS", {})),
    )


def _session_attrs(options: dict[str, Any]) -> dict[str, Any]:
    return {key: options[key] for key in ("target_session_attrs",) if key in options}


def _client_keepalives() -> dict[str, Any]:
    """libpq's TCP keepalives and user timeout: this beat's queries fail on a dead network.

    Keepalives probe an idle connection; the user timeout bounds a query whose packets go
    unacknowledged (keepalives do not probe then): without it such a query waits for the
    kernel's retransmission timeout, about 15 minutes.
    https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-KEEPALIVES
    """
    return {
        "keepalives": 1,
        "keepalives_idle": settings.BEAT_LOCK_KEEPALIVES_IDLE_SECONDS,
        "keepalives_interval": settings.BEAT_LOCK_KEEPALIVES_INTERVAL_SECONDS,
        "keepalives_count": settings.BEAT_LOCK_KEEPALIVES_COUNT,
        "tcp_user_timeout": settings.BEAT_LOCK_TCP_USER_TIMEOUT_SECONDS * 1000,
    }


def _server_keepalives() -> str:
    """The same settings for PostgreSQL's end of the lock session only (libpq `options`).

    A leader host that vanishes sends no FIN or RST: without these the server keeps its
    session, and the lock, for the kernel's keepalive default (about 2 h).
    """
    return (
        f"-c tcp_keepalives_idle={settings.BEAT_LOCK_KEEPALIVES_IDLE_SECONDS} "
        f"-c tcp_keepalives_interval={settings.BEAT_LOCK_KEEPALIVES_INTERVAL_SECONDS} "
        f"-c tcp_keepalives_count={settings.BEAT_LOCK_KEEPALIVES_COUNT} "
        f"-c tcp_user_timeout={settings.BEAT_LOCK_TCP_USER_TIMEOUT_SECONDS * 1000}"
    )


def _bound_django_queries() -> None:
    """Give this process's Django connection the client-side keepalives too.

    django-celery-beat reads and saves the schedule, and claim_tick runs, on Django's
    connection: on a dead network a query there would hang before the lock check runs.
    """
    connection.settings_dict.setdefault("OPTIONS", {}).update(_client_keepalives())
    connection.close()  # the next query connects with them


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
    server drops it and a standby takes it within STANDBY_POLL_SECONDS; when the leader's
    host vanishes, keepalives end the session within seconds (_server_keepalives). The
    leader checks its connection before every tick (at most DatabaseScheduler's 5 s apart)
    and stands by as soon as the check fails (_client_keepalives bound it). A pooler in
    transaction mode cannot hold a session lock: the beat connects directly, or through a
    session-mode pool.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lock_connection: psycopg.Connection[Any] | None = None
        self._leading = False
        # When the periodic schedule wants its next look (it sleeps up to 5 s between them).
        self._schedule_due_at = 0.0
        _bound_django_queries()
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self._hold_leadership():
            return STANDBY_POLL_SECONDS
        next_poll = self._publish_due_work()
        now = time.monotonic()
        if now >= self._schedule_due_at:
            self._schedule_due_at = now + float(super().tick(*args, **kwargs))
        return max(0.0, min(next_poll, self._schedule_due_at - time.monotonic()))

    def _publish_due_work(self) -> float:
        """Publish what is due; returns when to look again (at once after a full batch)."""
        from outbox import due

        try:
            published = due.publish_due_work()
        except DjangoDatabaseError as error:
            # The leadership check on the next tick decides whether this beat still leads.
            logger.error("beat: could not publish due work (%s)", type(error).__name__)
            connection.close_if_unusable_or_obsolete()  # a broken one is replaced next time
            return DUE_POLL_SECONDS
        if any(count >= due.BATCH_SIZE for count in published.values()):
            return 0.0
        return DUE_POLL_SECONDS

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        period = getattr(entry.schedule, "run_every", None)
        seconds = period.total_seconds() if period is not None else 60.0
        try:
            claimed = claim_tick(entry.name, seconds)
        except DjangoDatabaseError as error:
            # No database, no proof this beat still leads: send nothing (and keep running).
            logger.error(
                "beat: could not claim %s (%s); not sent", entry.name, type(error).__name__
            )
            return
        if not claimed:
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
