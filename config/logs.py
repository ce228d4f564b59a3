"""Log records that carry the current trace: a filter for every handler, a JSON formatter."""

import json
import logging
from datetime import UTC, datetime

from opentelemetry import trace

from config.redaction import redact_secrets

# LogRecord attributes that are not user-supplied `extra` fields.
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "trace_id",
    "span_id",
}


class TraceContextFilter(logging.Filter):
    """Adds trace_id and span_id (hex, '' outside a trace) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.trace_id = format(context.trace_id, "032x") if context.is_valid else ""
        record.span_id = format(context.span_id, "016x") if context.is_valid else ""
        return True


class RedactSecretsFilter(logging.Filter):
    """Masks anything shaped like an API key or a Stripe secret (a path, a Host header…)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            # Exception texts quote input too (DisallowedHost quotes the Host header);
            # formatters print exc_text when it is set.
            record.exc_text = redact_secrets(logging.Formatter().formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace/span ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "trace_id"):
            TraceContextFilter().filter(record)
        payload = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", ""),
            "span_id": getattr(record, "span_id", ""),
            "process": record.process,
        }
        payload |= {
            key: value
            for key, value in record.__dict__.items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
        }
        if record.exc_info:
            payload["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def install_on(logger: logging.Logger, *, json_format: bool) -> None:
    """Give every handler of `logger` the trace filter (and the JSON formatter if asked)."""
    for handler in logger.handlers:
        if not any(isinstance(f, TraceContextFilter) for f in handler.filters):
            handler.addFilter(TraceContextFilter())
        if json_format:
            handler.setFormatter(JsonFormatter())
