"""Metrics of the web and worker processes, and the /metrics view (gunicorn-safe).

With several processes per service (gunicorn workers, Celery pool children) each one
writes its samples to files under PROMETHEUS_MULTIPROC_DIR and the scrape merges them.
https://prometheus.github.io/client_python/multiprocess/
"""

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A metric without labels writes its sample file as it is declared (below, at import),
# so the directory must exist by then.
if _multiproc_dir := os.environ.get(MULTIPROC_ENV):
    Path(_multiproc_dir).mkdir(parents=True, exist_ok=True)
# Any string can be sent as a method; each new one would be a new series for ever.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by route (never the raw path: it holds ids).",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request.", ["method", "route"]
)
API_AUTH_FAILURES = Counter(
    "api_auth_failures",
    "API requests refused for their key, by reason (unknown, expired, revoked, malformed).",
    ["reason"],
)
API_RATE_LIMITED = Counter(
    "api_rate_limited",
    "API requests answered 429, by limit (api_key, auth_failures).",
    ["limit"],
)
RATE_LIMIT_STORE_ERRORS = Counter(
    "api_rate_limit_store_errors",
    "Rate-limit checks skipped because Redis did not answer (the request was allowed).",
)
ADMIN_LOGIN_FAILURES = Counter("admin_login_failures", "Failed admin logins.")
ADMIN_LOGIN_LOCKOUTS = Counter(
    "admin_login_lockouts", "Admin logins refused by django-axes' lockout."
)
STRIPE_REQUESTS = Counter(
    "payments_stripe_requests", "Calls to Stripe, by API endpoint.", ["endpoint"]
)
STRIPE_ERRORS = Counter(
    "payments_stripe_errors",
    "Failed calls to Stripe, by endpoint and error.",
    ["endpoint", "error"],
)
STRIPE_CALLS = Counter(
    "payments_stripe_calls",
    "Calls to Stripe by endpoint and outcome (ok, or our exception class name).",
    ["endpoint", "outcome"],
)
STRIPE_RATE_LIMITED = Counter(
    "payments_stripe_rate_limited",
    "429s from Stripe by endpoint and the limit that refused (Stripe-Rate-Limited-Reason).",
    ["endpoint", "reason"],
)
STRIPE_TOKEN_WAIT = Histogram(
    "payments_stripe_token_wait_seconds",
    "Time a worker spent waiting for a token of the fleet's Stripe budget, by call class.",
    ["call_class"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, float("inf")),
)
STRIPE_TOKEN_DEFERRALS = Counter(
    "payments_stripe_token_deferrals",
    "Calls that got no token in time (the task gave its slot back), by class and limit.",
    ["call_class", "reason"],
)
STRIPE_PACING_STORE_ERRORS = Counter(
    "payments_stripe_pacing_store_errors",
    "Pacing skipped because its Redis did not answer (the call went ahead).",
)
STRIPE_LATENCY = Histogram(
    "payments_stripe_request_duration_seconds",
    "Stripe call latency, retries by the library included.",
    ["endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, float("inf")),
)


@contextmanager
def observe_stripe_call(endpoint: str) -> Iterator[None]:
    """Count and time one Stripe call; the error label is our exception class name."""
    started = time.perf_counter()
    STRIPE_REQUESTS.labels(endpoint=endpoint).inc()
    try:
        yield
    except Exception as error:
        STRIPE_ERRORS.labels(endpoint=endpoint, error=type(error).__name__).inc()
        STRIPE_CALLS.labels(endpoint=endpoint, outcome=type(error).__name__).inc()
        raise
    else:
        STRIPE_CALLS.labels(endpoint=endpoint, outcome="ok").inc()
    finally:
        STRIPE_LATENCY.labels(endpoint=endpoint).observe(time.perf_counter() - started)


class RequestMetricsMiddleware:
    """Counts and times requests by resolved route, e.g. `api/v1/payments/<str:payment_id>`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = match.route if match else "unmatched"
        method = request.method if request.method in KNOWN_METHODS else OTHER_METHOD
        HTTP_REQUESTS.labels(method, route, str(response.status_code)).inc()
        HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
        return response


def process_registry() -> CollectorRegistry:
    """Every process's samples merged when multiprocess mode is on, else this process's."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def metrics_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(process_registry()), content_type=CONTENT_TYPE_LATEST)


def reset_multiprocess_dir() -> None:
    """Start a service with no samples of earlier runs (the client requires it per run).

    This process's own files (its unlabelled metrics, made at import) are kept.
    """
    if directory := os.environ.get(MULTIPROC_ENV):
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            if not stale.stem.endswith(f"_{os.getpid()}"):
                stale.unlink()


def mark_process_dead(pid: int) -> None:
    """Drop a dead child's live gauges; its counters stay in the merged totals."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def serve_process_metrics(port: int, address: str) -> None:
    """A /metrics HTTP server in this process (the Celery worker's main process)."""
    start_http_server(port, addr=address, registry=process_registry())
