"""URL routes of the whole service."""

from django.contrib import admin
from django.urls import include, path

from config import api_docs, health, metrics

urlpatterns = [
    # Probes and metrics: no auth, no session, cheap (README.md, "Monitoring").
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", api_docs.SchemaView.as_view(), name="schema"),
    path("api/docs/", api_docs.SwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("payments.urls")),
]

# Errors Django answers itself are problem+json outside the admin.
handler400 = "config.problems.bad_request"
handler403 = "config.problems.permission_denied"
handler404 = "config.problems.page_not_found"
handler500 = "config.problems.server_error"
