"""Secrets out of log lines: API keys and Stripe secrets by shape, query values by allowlist."""

import re
from urllib.parse import parse_qsl, quote

REDACTED = "[redacted]"
# Our keys (psk_/prk_), Stripe's secret, restricted and webhook secrets, wherever they
# appear in a line: a path, a query, a header echoed in an error.
_SECRET_SHAPES = re.compile(
    r"(?:p[sr]k_|sk_(?:live|test)_|rk_(?:live|test)_|whsec_)[A-Za-z0-9_\-]{6,}"
)
# Query parameters the API reads; any other parameter's value may be anything (a key
# pasted as ?api_key=...), so only these are logged as sent.
LOGGED_QUERY_PARAMETERS = frozenset({"status", "limit", "cursor", "format", "lang"})


def redact_secrets(text: str) -> str:
    return _SECRET_SHAPES.sub(REDACTED, text)


def redact_query(query: str) -> str:
    """The query string with every value of a parameter we do not read replaced."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(
        f"{quote(name, safe='')}="
        + (quote(value, safe="") if name in LOGGED_QUERY_PARAMETERS else REDACTED)
        for name, value in pairs
    ) if pairs else REDACTED  # fmt: skip
