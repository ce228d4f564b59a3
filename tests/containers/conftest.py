"""The container chaos runs against the compose stack's own PostgreSQL, not a test database."""

import environ
import pytest
from django.conf import settings
from django.db import connections


@pytest.fixture
def compose_database(django_db_blocker, monkeypatch):
    """Point this process at a running compose stack's database, with its secrets.

    Call it with the stack; pytest-django's test database is never made: the checker reads
    the rows the containers wrote.
    """

    def use(stack):
        connections.close_all()
        # In place: every thread's connection is made from this same dict.
        for key, value in environ.Env.db_url_config(stack.database_url).items():
            monkeypatch.setitem(settings.DATABASES["default"], key, value)
        # The API key the load uses is hashed as the web hashes it; the webhook endpoint the
        # fake Stripe signs for is the one the web verifies.
        for name in ("API_KEY_HASH_SECRET", "STRIPE_WEBHOOK_SECRET"):
            monkeypatch.setattr(settings, name, stack.secrets[name])
        monkeypatch.setattr(
            settings, "STRIPE_WEBHOOK_SECRETS", [stack.secrets["STRIPE_WEBHOOK_SECRET"]]
        )
        connections.close_all()

    with django_db_blocker.unblock():
        yield use
        connections.close_all()
