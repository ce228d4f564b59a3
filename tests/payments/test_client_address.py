"""The client: the peer unless it is a trusted proxy, then the right-most untrusted hop."""

import ipaddress
import subprocess

import pytest
from django.test import RequestFactory

from payments.client_address import client_address
from tests import processes

LOAD_BALANCERS = "10.0.0.0/8"
INGRESS_V6 = "fd00::/8"


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        # No proxy configured: the header is the client's own claim and changes nothing.
        ("", "198.51.100.7", "203.0.113.1", "198.51.100.7"),
        ("", "198.51.100.7", None, "198.51.100.7"),
        ("", "::ffff:198.51.100.7", None, "198.51.100.7"),
        # A spoofed header from a peer that is not one of our proxies changes nothing.
        (LOAD_BALANCERS, "198.51.100.7", "10.1.1.1, 203.0.113.1", "198.51.100.7"),
        # One proxy: it appended the address it saw.
        (LOAD_BALANCERS, "10.0.0.5", "203.0.113.1", "203.0.113.1"),
        # Whatever the client wrote to the left is skipped, however it looks.
        (LOAD_BALANCERS, "10.0.0.5", "1.2.3.4, 10.9.9.9, 203.0.113.1", "203.0.113.1"),
        # Two of our proxies (CDN edge, then the ingress): skip both.
        (LOAD_BALANCERS, "10.0.0.5", "203.0.113.1, 10.0.0.9", "203.0.113.1"),
        # Two X-Forwarded-For headers arrive joined with a comma.
        (LOAD_BALANCERS, "10.0.0.5", "6.6.6.6,203.0.113.1", "203.0.113.1"),
        # Ports and brackets as some load balancers write them; IPv6 peers.
        (LOAD_BALANCERS, "10.0.0.5", "203.0.113.1:51234", "203.0.113.1"),
        (INGRESS_V6, "fd00::5", "[2001:db8::7]:443", "2001:db8::7"),
        (INGRESS_V6, "fd00::5", "2001:db8::7", "2001:db8::7"),
        # An IPv4 client seen through an IPv6 socket counts as itself.
        (LOAD_BALANCERS, "::ffff:10.0.0.5", "::ffff:203.0.113.1", "203.0.113.1"),
        # Only our own hops (a probe from inside), or no header: the furthest of ours.
        (LOAD_BALANCERS, "10.0.0.5", "10.0.0.8", "10.0.0.8"),
        (LOAD_BALANCERS, "10.0.0.5", None, "10.0.0.5"),
        # Not an address (nginx's "unknown"): the proxy that wrote it.
        (LOAD_BALANCERS, "10.0.0.5", "unknown, 10.0.0.8", "10.0.0.8"),
    ],
)
def test_the_client_is_the_right_most_hop_that_is_not_a_trusted_proxy(
    settings, trusted, peer, forwarded, client
):
    settings.TRUSTED_PROXIES = tuple(
        ipaddress.ip_network(cidr) for cidr in trusted.split(",") if cidr
    )
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    request = RequestFactory().get("/", REMOTE_ADDR=peer, **headers)

    assert client_address(request) == client


def test_the_old_proxy_count_setting_refuses_to_start():
    result = subprocess.run(
        [str(processes.BIN / "python"), "-c", "import django; django.setup()"],
        cwd=processes.PROJECT_ROOT,
        env={
            **processes.os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "TRUSTED_PROXY_COUNT": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "list the proxies' networks in TRUSTED_PROXIES" in result.stderr
