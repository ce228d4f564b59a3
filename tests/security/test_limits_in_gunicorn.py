"""Failed-authentication limits and the admin lockout, against real gunicorn processes:
bad keys are slowed, valid keys never refused, addresses come from trusted proxies only."""

import re
import time
from collections.abc import Iterator

import pytest
import redis
import requests

from payments import services
from tests import processes

pytestmark = pytest.mark.integration

LIMIT = 100
# Long fixed windows: a test never sees its counts reset halfway (see _clear_of_a_window_edge).
WINDOW_SECONDS = 3600
ADMIN_LOCKOUT_AFTER = 3
PAYMENTS = "/api/v1/payments?limit=1"
# Generous: two cores shared with other test sessions have taken 10 s for one answer.
TIMEOUT_SECONDS = 30


def _gunicorn(
    private_broker: str, tmp_path_factory: pytest.TempPathFactory, redis_db: int, **env: str
) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("limits")
    # A Redis database of its own: the counts of other tests' wrong keys stay elsewhere.
    counters = re.sub(r"/\d+$", f"/{redis_db}", private_broker)
    redis.Redis.from_url(counters).flushdb()
    with processes.gunicorn(
        {
            **processes.test_environment(private_broker),
            "RATE_LIMIT_REDIS_URL": counters,
            "AUTH_FAILURE_LIMIT": str(LIMIT),
            "AUTH_FAILURE_WINDOW_SECONDS": str(WINDOW_SECONDS),
            "ADMIN_LOGIN_FAILURE_LIMIT": str(ADMIN_LOCKOUT_AFTER),
            **env,
        },
        directory,
    ) as url:
        yield url


@pytest.fixture(scope="module")
def exposed_web(private_broker, django_db_setup, django_db_blocker, tmp_path_factory):
    """gunicorn facing clients directly: the peer address is the client."""
    with django_db_blocker.unblock():
        yield from _gunicorn(private_broker, tmp_path_factory, redis_db=7)


@pytest.fixture(scope="module")
def proxied_web(private_broker, django_db_setup, django_db_blocker, tmp_path_factory):
    """gunicorn behind a proxy on 127.0.0.1 (our tests play the proxy)."""
    with django_db_blocker.unblock():
        yield from _gunicorn(
            private_broker, tmp_path_factory, redis_db=8, TRUSTED_PROXIES="127.0.0.1/32"
        )


@pytest.fixture(autouse=True)
def _clear_of_a_window_edge() -> None:
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < 90:
        time.sleep(left + 1)


def get(url: str, key: str, session: requests.Session, **headers: str) -> requests.Response:
    return session.get(
        url + PAYMENTS,
        headers={"Authorization": f"Bearer {key}", **headers},
        timeout=TIMEOUT_SECONDS,
    )


def test_a_valid_key_is_served_after_100_bad_keys_from_its_address(exposed_web, transactional_db):
    _, good = services.create_api_client(name="behind the same NAT")
    session = requests.Session()

    bad = [get(exposed_web, f"psk_guess{n:040d}", session).status_code for n in range(LIMIT)]
    refused = get(exposed_web, "psk_one-more-guess", session)
    served = get(exposed_web, good, session)
    spoofed = get(exposed_web, "psk_guess-with-a-new-face", session, **{
        "X-Forwarded-For": "203.0.113.99"
    })  # fmt: skip
    served_again = get(exposed_web, good, session)

    assert bad == [401] * LIMIT
    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= WINDOW_SECONDS
    assert re.fullmatch(
        r"Too many failed authentications from this address\. Try again in \d+ seconds?\.",
        refused.json()["detail"],
    )
    assert served.status_code == 200
    # A header from a peer that is not a trusted proxy is the client's own claim.
    assert spoofed.status_code == 429
    assert served_again.status_code == 200


def test_clients_behind_a_trusted_proxy_are_limited_separately(proxied_web, transactional_db):
    _, good = services.create_api_client(name="behind the proxy")
    session = requests.Session()
    first = {"X-Forwarded-For": "203.0.113.10"}
    # The left-most entry is whatever the client sent; our proxy appended the right-most.
    second = {"X-Forwarded-For": "203.0.113.10, 198.51.100.20"}

    bad = [
        get(proxied_web, f"psk_guess{n:040d}", session, **first).status_code for n in range(LIMIT)
    ]
    first_refused = get(proxied_web, "psk_one-more-guess", session, **first)
    first_served = get(proxied_web, good, session, **first)
    second_bad = get(proxied_web, "psk_another-guess", session, **second)
    second_served = get(proxied_web, good, session, **second)

    assert bad == [401] * LIMIT
    assert first_refused.status_code == 429
    assert first_served.status_code == 200
    assert second_bad.status_code == 401
    assert second_served.status_code == 200


def admin_login(url: str, username: str, password: str, **headers: str) -> int:
    """Log in as a browser would (CSRF token from the form); the status of the POST."""
    session = requests.Session()
    form = session.get(f"{url}/admin/login/", headers=headers, timeout=TIMEOUT_SECONDS)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token, form.text[:500]
    answer = session.post(
        f"{url}/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": token.group(1),
            "username": username,
            "password": password,
        },
        headers=headers,
        allow_redirects=False,
        timeout=TIMEOUT_SECONDS,
    )
    return answer.status_code


def test_the_admin_lockout_is_per_username_and_address(
    proxied_web, transactional_db, django_user_model
):
    for name in ("alice", "bob"):
        django_user_model.objects.create_superuser(name, f"{name}@example.com", f"{name}-right")
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    alice_at_home = {"X-Forwarded-For": "198.51.100.5"}

    wrong = [
        admin_login(proxied_web, "alice", f"guess{n}", **attacker)
        for n in range(ADMIN_LOCKOUT_AFTER)
    ]
    alice_from_the_attackers_address = admin_login(proxied_web, "alice", "alice-right", **attacker)
    alice_from_her_own = admin_login(proxied_web, "alice", "alice-right", **alice_at_home)
    bob_from_the_attackers_address = admin_login(proxied_web, "bob", "bob-right", **attacker)

    assert wrong[:-1] == [200] * (ADMIN_LOCKOUT_AFTER - 1)  # the form again, with an error
    assert wrong[-1] == 429
    assert alice_from_the_attackers_address == 429
    assert alice_from_her_own == 302  # logged in, sent to /admin/
    assert bob_from_the_attackers_address == 302
