"""The caller's address: the connection's peer, or what our own proxies say it was.

The rule (the one MDN and nginx's realip module with `real_ip_recursive on` use): when
the peer is one of TRUSTED_PROXIES, walk X-Forwarded-For from the right, skipping
addresses of trusted proxies; the first one that is not is the client. Every entry to its
right was written by a proxy we trust; everything to its left came from the client and
may be forged, so a spoofed header from an untrusted peer changes nothing.
https://developer.mozilla.org/en-US/docs/Web/HTTP/Reference/Headers/X-Forwarded-For#selecting_an_ip_address
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest

# Bounds the Redis key a bare peer string makes (gunicorn on a unix socket gives "").
_MAX_LENGTH = 64
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(request: HttpRequest) -> str:
    """The address failed-authentication limits and the admin's lockout count against."""
    peer: str = request.META.get("REMOTE_ADDR") or "unknown"
    nearest = _parse(peer)
    if nearest is None:
        return peer[:_MAX_LENGTH]
    if not _is_trusted_proxy(nearest):
        return str(nearest)
    # Several X-Forwarded-For headers arrive joined by commas, in order.
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for entry in reversed([entry.strip() for entry in forwarded if entry.strip()]):
        address = _parse(entry)
        if address is None:
            # Not an address (nginx writes "unknown" for a unix-socket peer): the proxy
            # that wrote it is the nearest thing to a client we can name.
            break
        if not _is_trusted_proxy(address):
            return str(address)
        nearest = address
    # Every hop is one of ours (a probe from inside), or no proxy said: the furthest of
    # our own hops.
    return str(nearest)


def _parse(text: str) -> IPAddress | None:
    """An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[::1]:443`."""
    candidates = [text]
    if text.startswith("["):
        candidates.append(text[1 : text.find("]")])
    elif text.count(":") == 1:
        candidates.append(text.partition(":")[0])
    for candidate in candidates:
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        # An IPv4 client reaching an IPv6 socket is ::ffff:1.2.3.4; count it once.
        mapped = getattr(address, "ipv4_mapped", None)
        return mapped or address
    return None


def _is_trusted_proxy(address: IPAddress | None) -> bool:
    if address is None:
        return False
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = settings.TRUSTED_PROXIES
    return any(address.version == network.version and address in network for network in trusted)


def client_ip(request: HttpRequest) -> str | None:
    """client_address for django-axes, which stores an IP column: None when it is not one
    (a request built in code, such as the test client's force_login, has no peer)."""
    address = _parse(client_address(request))
    return None if address is None else str(address)
