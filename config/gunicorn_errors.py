"""gunicorn's own error answers (400, 414, 431, 501…) as application/problem+json.

gunicorn writes them itself, before Django sees the request, through
gunicorn.util.write_error (an HTML page); it has no setting for the format, so the
web process replaces that one function. The detail is generic: gunicorn's message
quotes the request line, which may carry a secret.
"""

import json
from http import HTTPStatus
from typing import Any

from gunicorn import util  # type: ignore[import-untyped]

_CODES = {400: "bad_request", 403: "forbidden", 414: "uri_too_long", 417: "expectation_failed",
          431: "headers_too_large", 500: "internal_error", 501: "not_implemented"}  # fmt: skip


def write_problem(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": HTTPStatus(status_int).phrase,
            "status": status_int,
            "code": _CODES.get(status_int, "bad_request"),
            "detail": f"{reason}: the server could not read the request"
            if status_int != 500
            else "an unexpected error; it has been logged",
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    util.write_error = write_problem
