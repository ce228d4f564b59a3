"""schemathesis against a real gunicorn: every operation, all checks, a bounded run.

`make fuzz` runs the same with SCHEMATHESIS_MAX_EXAMPLES=300. Its settings (what each
check may expect, and why) are in tests/api/schemathesis.toml.
"""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from payments import services
from tests import processes
from tests.factories import PaymentFactory

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def web(private_broker, django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("schemathesis")
    with django_db_blocker.unblock():
        env = {
            **processes.test_environment(private_broker),
            "PROMETHEUS_MULTIPROC_DIR": str(directory / "prometheus"),
            "RATE_LIMIT_REDIS_URL": private_broker,
            # schemathesis sends hundreds of requests a second, many with bad keys.
            "API_RATE_LIMIT_REQUESTS": "100000",
            "AUTH_FAILURE_LIMIT": "100000",
        }
    with processes.gunicorn(env, directory, config_file=True) as url:
        yield url


def test_schemathesis_finds_nothing(web, transactional_db, tmp_path):
    client, api_key = services.create_api_client(name="schemathesis")
    # A real payment of this client, so the detail and refund operations get past 404.
    payment = PaymentFactory(client=client, status="succeeded", amount=99_999_999)
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.read_text() + f'\n[parameters]\n"path.payment_id" = "{payment.pk}"\n')
    examples = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15")

    result = subprocess.run(
        [
            str(processes.BIN / "st"), "--config-file", str(config), "run",
            f"{web}/api/schema/", "--url", web,
            "--header", f"Authorization: Bearer {api_key}",
            "--checks", "all",
            "--max-examples", examples,
            "--workers", "1",
            "--seed", os.environ.get("SCHEMATHESIS_SEED", "13"),
            "--generation-database", "none",
            "--report-dir", str(tmp_path),
        ],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
