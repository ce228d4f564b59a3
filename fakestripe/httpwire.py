"""A small HTTP/1.1 request parser and response writer (keep-alive, Content-Length bodies)."""

import json
from dataclasses import dataclass, field
from http import HTTPStatus

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024

_REASONS = {status.value: status.phrase for status in HTTPStatus}


class HttpParseError(Exception):
    """The bytes received are not an HTTP/1.1 request we can answer; the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool

    def header(self, name: str) -> str | None:
        """Header by lower-case name."""
        return self.headers.get(name)


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"
    # Execute, then close the connection without answering: the ambiguous failure.
    drop: bool = False


def parse_request(buffer: bytearray) -> tuple[Request, int] | None:
    """The request at the start of `buffer` and its length; None while bytes are missing."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        if len(buffer) > MAX_HEAD_BYTES:
            raise HttpParseError(431, "request head too large")
        return None
    lines = buffer[:head_end].decode("latin-1").split("\r\n")
    request_line = lines[0].split(" ")
    if len(request_line) != 3 or not request_line[2].startswith("HTTP/1."):
        raise HttpParseError(400, "malformed request line")
    method, target, version = request_line
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise HttpParseError(400, "malformed header")
        headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise HttpParseError(411, "chunked bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise HttpParseError(400, "invalid Content-Length") from None
    if length < 0 or length > MAX_BODY_BYTES:
        raise HttpParseError(413, "body too large")
    total = head_end + 4 + length
    if len(buffer) < total:
        return None
    path, _, query = target.partition("?")
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    body = bytes(buffer[head_end + 4 : total])
    return Request(method.upper(), path, query, headers, body, keep_alive), total


def wants_continue(buffer: bytearray) -> bool:
    """Whether the pending request's head asks for `100 Continue` (curl does for large bodies)."""
    head_end = buffer.find(b"\r\n\r\n")
    return head_end >= 0 and b"100-continue" in buffer[:head_end].lower()


def render_response(response: Response, keep_alive: bool) -> bytes:
    reason = _REASONS.get(response.status, "Unknown")
    head = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        "Connection: keep-alive" if keep_alive else "Connection: close",
        "Server: fakestripe",
    ]
    head.extend(f"{name}: {value}" for name, value in response.headers)
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body


def render_error(status: int, message: str) -> bytes:
    body = json.dumps({"error": {"type": "invalid_request_error", "message": message}}).encode()
    return render_response(Response(status, body), keep_alive=False)
