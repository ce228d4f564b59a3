"""OpenTelemetry set-up: one tracer provider per process, started after fork."""

import os
from typing import IO, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)

from config.redaction import redact_query, redact_secrets

_provider: TracerProvider | None = None
_span_file: IO[str] | None = None


def _one_json_line(span: ReadableSpan) -> str:
    return str(span.to_json(indent=None)) + "\n"


def configure_tracing(service_name: str) -> None:
    """Install the tracer provider and instrumentations for this process (idempotent).

    Exporter, by environment:
    - ``OTEL_EXPORTER_OTLP_ENDPOINT`` set: OTLP over HTTP, batched.
    - ``OTEL_SPANS_FILE`` set: every span as one JSON line in that file (tests, debugging).
    - ``OTEL_TRACES_CONSOLE=1``: spans printed to stdout.
    - otherwise no exporter; spans and trace ids still exist, so they reach the database.
    ``OTEL_SDK_DISABLED=true`` turns tracing off entirely (no trace ids either).
    """
    global _provider, _span_file
    if _provider is not None or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        # OpenTelemetry's own switch: no provider and no instrumentation at all.
        return
    resource = Resource.create(
        {
            "service.name": service_name,
            "service.namespace": os.environ.get("OTEL_SERVICE_NAMESPACE", "payments"),
        }
    )
    provider = TracerProvider(resource=resource)
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if span_file_path := os.environ.get("OTEL_SPANS_FILE"):
        _span_file = open(span_file_path, "a", buffering=1)  # noqa: SIM115 - lives with the process
        exporter = ConsoleSpanExporter(out=_span_file, formatter=_one_json_line)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    if os.environ.get("OTEL_TRACES_CONSOLE") == "1":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    _instrument_libraries()


def _instrument_libraries() -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.propagators import (
        TraceResponsePropagator,
        set_global_response_propagator,
    )
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    # Every response carries `traceresponse: 00-<trace id>-<span id>-01` (W3C Trace Context
    # Level 2), so a client can quote the trace. https://www.w3.org/TR/trace-context-2/
    set_global_response_propagator(TraceResponsePropagator())  # type: ignore[no-untyped-call]
    DjangoInstrumentor().instrument(request_hook=_redact_request_span)
    # Stripe's library sends its HTTP through requests: each call becomes a client span.
    RequestsInstrumentor().instrument()
    # Django opens psycopg connections itself; patching connect() covers them.
    PsycopgInstrumentor().instrument(enable_commenter=False)
    CeleryInstrumentor().instrument()  # type: ignore[no-untyped-call]


# Span attributes that hold the request's URL: a key pasted into a query string must
# not reach the tracing backend (invariant I6).
_URL_ATTRIBUTES = ("http.url", "http.target", "url.full", "url.query", "url.path")


def _redact_request_span(span: Any, request: Any) -> None:
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str):
            path, _, query = value.partition("?")
            redacted = redact_secrets(path) + ("?" + redact_query(query) if query else "")
            if name == "url.query":
                redacted = redact_query(value)
            if redacted != value:
                span.set_attribute(name, redacted)


def shutdown_tracing() -> None:
    """Flush pending spans; called when a worker child or the web process exits."""
    if _provider is not None:
        _provider.shutdown()
    if _span_file is not None:
        _span_file.flush()


def current_trace_id() -> str:
    """The current trace id as 32 hex digits, or '' outside any trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""
