"""Metrics for admin logins: failures and django-axes lockouts (no usernames in labels)."""

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_login_failed

from config.metrics import ADMIN_LOGIN_FAILURES, ADMIN_LOGIN_LOCKOUTS


def _count_failure(sender: Any, **kwargs: Any) -> None:
    ADMIN_LOGIN_FAILURES.inc()


def _count_lockout(sender: Any, **kwargs: Any) -> None:
    ADMIN_LOGIN_LOCKOUTS.inc()


def connect() -> None:
    # Signals only feed counters here; no payment flow hangs on them.
    user_login_failed.connect(_count_failure, dispatch_uid="payments.admin_login.failure")
    user_locked_out.connect(_count_lockout, dispatch_uid="payments.admin_login.lockout")
