"""Operator commands that create keys and drive the demo: clear output, clear errors."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from payments import services
from payments.models import ApiClient
from tests import processes


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_api_client_prints_a_working_key_once_and_stores_only_its_hash(db):
    output = run("create_api_client", "acme", "--email", "dev@acme.test")

    key = output.splitlines()[1].strip()
    client = ApiClient.objects.get(name="acme")
    assert key.startswith("psk_")
    assert services.check_api_key(key).key.client == client
    stored = client.keys.get()
    assert key not in (stored.key_hash, stored.prefix)


def test_create_api_client_refuses_a_duplicate_and_rotates_on_request(db):
    old_key = run("create_api_client", "acme", "--quiet-key").strip()

    with pytest.raises(CommandError, match="exists"):
        run("create_api_client", "acme")
    new_key = run("create_api_client", "acme", "--rotate-if-exists", "--quiet-key").strip()

    assert new_key != old_key
    assert services.check_api_key(old_key).reason == "revoked"
    assert services.check_api_key(new_key).key.client == ApiClient.objects.get(name="acme")


def test_create_api_client_refuses_an_empty_name(db):
    with pytest.raises(CommandError, match="must not be empty"):
        run("create_api_client", "  ")


def test_demo_says_what_to_do_when_nothing_answers(db):
    nobody = f"http://127.0.0.1:{processes.free_port()}"

    with pytest.raises(CommandError, match="make up"):
        run("demo", "--base-url", nobody, "--api-key", "psk_x")
