"""The payment list's cursor pagination: a bad cursor or limit is a 400, never a guess."""

from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

LIMIT_PARAMETER = "limit"
DEFAULT_LIMIT = 50
# Stripe's list limit: 1 to 100. https://docs.stripe.com/api/pagination
MAX_LIMIT = 100


class PaymentCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = DEFAULT_LIMIT
    page_size_query_param = LIMIT_PARAMETER
    max_page_size = MAX_LIMIT

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(LIMIT_PARAMETER)
        if raw is None:
            return DEFAULT_LIMIT
        # DRF falls back to the default for "abc" and caps 500 silently; say so instead.
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
            raise ValidationError({LIMIT_PARAMETER: [f"an integer from 1 to {MAX_LIMIT}"]})
        return int(raw)

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor: Cursor | None = super().decode_cursor(request)
        except (NotFound, UnicodeDecodeError) as invalid:
            raise _invalid_cursor() from invalid
        # The position is a created_at this API wrote; anything else was made up, and
        # reaching the database it would fail the query.
        if cursor is not None and cursor.position is not None:
            try:
                if parse_datetime(str(cursor.position)) is None:
                    raise _invalid_cursor()
            except ValueError as invalid:
                raise _invalid_cursor() from invalid
        return cursor

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == LIMIT_PARAMETER:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_LIMIT,
                    "default": DEFAULT_LIMIT,
                }
            if parameter["name"] == self.cursor_query_param:
                parameter["description"] = "The `next` or `previous` link's cursor, as given."
        return parameters


def _invalid_cursor() -> ValidationError:
    return ValidationError({"cursor": ["not a cursor this API gave out"]})
