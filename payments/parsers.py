"""The API's JSON parser: DRF's, with nesting bounded (a deep body is a 400, not a 500)."""

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from payments import json_input


class BoundedJSONParser(JSONParser):
    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            return json_input.loads(raw.decode(encoding))
        except (UnicodeDecodeError, json_input.UnsafeJson) as error:
            raise ParseError(f"JSON parse error: {error}") from error
