"""RFC 9457 problem bodies for answers Django gives before or outside DRF (400, 404, 413, 500)."""

import json
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views import defaults

PROBLEM_CONTENT_TYPE = "application/problem+json"
# The admin is for people in a browser: its errors stay Django's HTML pages.
_HTML_PREFIXES = ("/admin/",)


def problem_body(http_status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": HTTPStatus(http_status).phrase,
        "status": http_status,
        "code": code,
        "detail": detail,
        **extra,
    }


def problem_response(http_status: int, code: str, detail: str, **extra: Any) -> HttpResponse:
    return HttpResponse(
        json.dumps(problem_body(http_status, code, detail, **extra)),
        status=http_status,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def _wants_html(request: HttpRequest) -> bool:
    return request.path.startswith(_HTML_PREFIXES)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    # Raised by Django itself: a disallowed Host, a body over DATA_UPLOAD_MAX_MEMORY_SIZE,
    # too many fields. The exception's text can quote the request, so it is not echoed.
    if _wants_html(request):
        return defaults.bad_request(request, exception)
    return problem_response(400, "bad_request", "the request could not be read")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_html(request):
        return defaults.permission_denied(request, exception)
    return problem_response(403, "forbidden", "not allowed")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_html(request):
        return defaults.page_not_found(request, exception)
    return problem_response(404, "not_found", "no such resource")


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_html(request):
        return defaults.server_error(request)
    return problem_response(500, "internal_error", "an unexpected error; it has been logged")
