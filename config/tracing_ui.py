"""Links from the admin to a trace in the tracing UI configured by TRACING_UI_URL."""

from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString

TRACE_ID_LENGTH = 32


def trace_url(trace_id: str) -> str:
    """TRACING_UI_URL with `{trace_id}` filled in; '' without a UI or a valid id."""
    template: str = settings.TRACING_UI_URL
    if not template or len(trace_id) != TRACE_ID_LENGTH:
        return ""
    return template.format(trace_id=trace_id)


def trace_link(trace_id: str) -> SafeString | str:
    """An admin cell: the id as a link to its trace, or just the id."""
    url = trace_url(trace_id)
    if not url:
        return trace_id or "-"
    return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, trace_id)
