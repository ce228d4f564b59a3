"""The OpenAPI schema and its Swagger UI, answering GET and HEAD only.

OPTIONS on the template-rendered docs view was a 500 (no template for DRF's metadata);
any other method is now a 405 problem. The split view serves Swagger's start-up script
as a file, so the Content-Security-Policy needs no inline scripts.
"""

from typing import Any

from django.http import HttpResponse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.request import Request

from config.problems import problem_response

_READ_ONLY = ["get", "head"]


def _method_not_allowed(request: Request) -> HttpResponse:
    response = problem_response(405, "method_not_allowed", f"{request.method} is not allowed here")
    response["Allow"] = "GET, HEAD"
    return response


class SchemaView(SpectacularAPIView):
    http_method_names = _READ_ONLY

    # DRF returns whatever HttpResponse this gives (its stubs say Response only).
    def http_method_not_allowed(  # type: ignore[override]
        self, request: Request, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        return _method_not_allowed(request)


class SwaggerView(SpectacularSwaggerSplitView):
    http_method_names = _READ_ONLY

    # DRF returns whatever HttpResponse this gives (its stubs say Response only).
    def http_method_not_allowed(  # type: ignore[override]
        self, request: Request, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        return _method_not_allowed(request)
