"""--host: loopback unless told otherwise (a container listens on 0.0.0.0)."""

import requests

from fakestripe.config import ServerConfig
from fakestripe.server import serve_in_background


def test_listens_on_127_0_0_1_by_default():
    server = serve_in_background(ServerConfig(port=0, profile="zero"))
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert requests.get(f"{server.url}/_fake/ledger", timeout=5).status_code == 200
    finally:
        server.stop()


def test_listens_on_the_address_it_is_given():
    # Another loopback address: the socket is bound to it, not to 127.0.0.1.
    server = serve_in_background(ServerConfig(port=0, host="127.0.0.2", profile="zero"))
    try:
        port = server.url.rsplit(":", 1)[1]
        assert server.url == f"http://127.0.0.2:{port}"
        assert requests.get(f"{server.url}/_fake/ledger", timeout=5).status_code == 200
        try:
            requests.get(f"http://127.0.0.1:{port}/_fake/ledger", timeout=2)
            reached_other_address = True
        except requests.ConnectionError:
            reached_other_address = False
        assert not reached_other_address
    finally:
        server.stop()
