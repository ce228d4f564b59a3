"""Fixtures shared by every test: API clients and a private broker for this test process."""

import pytest
from rest_framework.test import APIClient

from payments import services
from payments.models import ApiClient
from tests import processes


@pytest.fixture(scope="session", autouse=True)
def private_broker(tmp_path_factory: pytest.TempPathFactory):
    """A Redis of our own: nothing this process publishes reaches the developer's broker."""
    from config.celery import app as celery_app

    with processes.redis_server(tmp_path_factory.mktemp("broker")) as url:
        celery_app.conf.broker_url = url
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
