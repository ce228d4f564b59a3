"""Probes for Kubernetes: /healthz (the process answers), /readyz (it can do its work)."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from config.celery import app as celery_app

logger = logging.getLogger(__name__)

# Once every migration is applied it stays so for this process; checking again per probe
# would load the whole migration graph each time.
_migrations_known_applied = False


def database_reachable() -> bool:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # any driver error means "not ready"; the reason goes to the log
        logger.warning("readiness: database unreachable", exc_info=True)
        connection.close()  # the next request gets a fresh connection
        return False


def migrations_applied() -> bool:
    global _migrations_known_applied
    if not _migrations_known_applied:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        targets = executor.loader.graph.leaf_nodes()
        _migrations_known_applied = not executor.migration_plan(targets)
    return _migrations_known_applied


def broker_reachable() -> bool:
    timeout = settings.READINESS_TIMEOUT_SECONDS
    options = {
        **(celery_app.conf.broker_transport_options or {}),
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }
    try:
        with Connection(
            str(celery_app.conf.broker_url), connect_timeout=timeout, transport_options=options
        ) as connection:
            # Redis opens a socket and PINGs; AMQP completes the handshake. No retries.
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
        return True
    except Exception:
        logger.warning("readiness: broker unreachable", exc_info=True)
        return False


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, Callable[[], bool]] = {
        "database": database_reachable,
        "broker": broker_reachable,
    }
    results = {name: check() for name, check in checks.items()}
    # Migrations need the database; without it they are simply "not known".
    results["migrations"] = results["database"] and _safe(migrations_applied)
    ready = all(results.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception:
        logger.warning("readiness check %s failed", check.__name__, exc_info=True)
        return False
