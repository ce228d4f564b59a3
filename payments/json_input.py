"""JSON from outside: bounded nesting, and only text PostgreSQL can store."""

import json
from collections.abc import Iterator
from typing import Any

# Our request bodies nest two levels and Stripe's events about ten; anything deeper is
# hostile. Python's parser gives up near 1,000 levels with a RecursionError, a 500.
MAX_DEPTH = 64


class UnsafeJson(ValueError):
    """The text is not JSON, nests too deep, or holds text the database refuses."""


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as error:
        raise UnsafeJson(f"JSON nested deeper than {max_depth} levels") from error
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise UnsafeJson(f"not valid JSON: {error}") from error
    if _depth(value) > max_depth:
        raise UnsafeJson(f"JSON nested deeper than {max_depth} levels")
    return value


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259), and jsonb refuses them.
    raise ValueError(f"{name} is not a JSON value")


def _depth(value: Any) -> int:
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in children)
    return deepest


def is_storable_text(text: str) -> bool:
    """PostgreSQL refuses NUL in text and jsonb, and UTF-8 cannot carry a lone surrogate."""
    return "\x00" not in text and not any("\ud800" <= char <= "\udfff" for char in text)


def unstorable_strings(value: Any) -> Iterator[str]:
    """Every key or string value anywhere in `value` that the database would refuse."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not is_storable_text(item):
                yield item
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
