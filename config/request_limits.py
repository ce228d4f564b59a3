"""Refuse a request body over the limit before anything reads it (413, problem+json)."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from config.problems import problem_response


class BodySizeLimitMiddleware:
    """Checks Content-Length against MAX_REQUEST_BODY_BYTES; runs before any parser.

    gunicorn hands Django no body without a Content-Length (a chunked upload reads as
    empty), so the header is the whole story here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        limit: int = settings.MAX_REQUEST_BODY_BYTES
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            response = problem_response(
                413, "body_too_large", f"the request body is larger than {limit} bytes"
            )
            # The unread body stays in the socket: the connection cannot be reused.
            response["Connection"] = "close"
            return response
        return self.get_response(request)
