"""Fixtures shared by every test: API clients and a private broker for this test process."""

import pytest
from rest_framework.test import APIClient
from xdist.scheduler import LoadFileScheduling

from payments import services
from payments.models import ApiClient
from tests import processes

# Directories whose conftest starts a session-scoped stack of real processes (gunicorn,
# workers, fake Stripe): their tests run on one xdist worker, so each stack starts once.
SHARED_STACK_DIRECTORIES = ("tests/integration/", "tests/observability/")


class ModuleOrSharedStack(LoadFileScheduling):
    """xdist work units: a test module (its module-scoped servers start once), or every
    test under a shared stack's directory. pytest-django orders the tests that start
    processes after the unit tests; the units go out latest first, so that the long ones
    start early and the short ones even out the end."""

    def _split_scope(self, nodeid: str) -> str:
        for directory in SHARED_STACK_DIRECTORIES:
            if nodeid.startswith(directory):
                return directory
        return super()._split_scope(nodeid)

    def schedule(self) -> None:
        if self.collection is None and self.collection_is_completed:
            collection = next(iter(self.registered_collections.values()), [])
            # Latest-placed first: a unit goes out by its last test, the one that starts
            # processes. The base class fills these in place, so the queue keeps this order.
            latest_first = list(dict.fromkeys(map(self._split_scope, reversed(collection))))
            # The shared stacks go last: they live until the session ends, and their beat
            # (the database's leader) and workers (on this worker's private broker) would
            # take the due work and the messages of every test that ran after them.
            shared_last = sorted(latest_first, key=lambda unit: unit in SHARED_STACK_DIRECTORIES)
            self.workqueue.update((unit, {}) for unit in shared_last)
        super().schedule()


@pytest.hookimpl(tryfirst=True)  # before xdist's own, registered after this conftest
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> ModuleOrSharedStack:
    return ModuleOrSharedStack(config, log)  # type: ignore[arg-type]


@pytest.fixture(scope="session", autouse=True)
def private_broker(tmp_path_factory: pytest.TempPathFactory):
    """A Redis of our own: nothing this process publishes reaches the developer's broker."""
    from config.celery import app as celery_app

    with (
        processes.redis_server(tmp_path_factory.mktemp("broker")) as url,
        pytest.MonkeyPatch.context() as patch,
    ):
        # Celery reads CELERY_BROKER_URL from the environment before its own settings.
        patch.setenv("CELERY_BROKER_URL", url)
        # Rate-limit counters too: this session's own, not the developer's Redis.
        from django.conf import settings

        patch.setattr(settings, "RATE_LIMIT_REDIS_URL", url)
        patch.setattr(settings, "STRIPE_PACING_REDIS_URL", url)
        assert str(celery_app.connection_for_write().port) in url
        yield url


@pytest.fixture
def merchant(db) -> tuple[ApiClient, str]:
    """An API client and its raw key."""
    return services.create_api_client(name="merchant", contact_email="ops@merchant.test")


@pytest.fixture
def api(merchant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {merchant[1]}")
    return client


@pytest.fixture(scope="session")
def fake_stripe_url(tmp_path_factory: pytest.TempPathFactory):
    """The fake Stripe server as a real process on a free loopback port."""
    with processes.fakestripe(tmp_path_factory.mktemp("fakestripe"), profile="zero") as url:
        yield url


@pytest.fixture
def gateway(fake_stripe_url):
    """The real Stripe gateway (official library, real HTTP) pointed at the fake."""
    import stripe

    from payments.gateways.stripe import StripeGateway

    client = stripe.StripeClient(
        "sk_test_unit", base_addresses={"api": fake_stripe_url}, max_network_retries=0
    )
    return StripeGateway(client)
