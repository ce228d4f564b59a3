"""Stripe's form encoding (`metadata[payment_id]=...`) decoded and validated like Stripe does."""

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from .errors import (
    StripeError,
    integer_too_small,
    invalid_enum,
    invalid_integer,
    invalid_request,
    parameter_missing,
    parameter_unknown,
)

FormValue = str | dict[str, "FormValue"]
Params = dict[str, FormValue]

_INTEGER = re.compile(r"-?[0-9]+\Z")
_KEY_PART = re.compile(r"\[([^\[\]]*)\]")

# https://docs.stripe.com/api/metadata
METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500


def decode_form(raw: str) -> tuple[Params, tuple[tuple[str, str], ...]]:
    """Nested params from bracket notation, plus the flat pairs (for fingerprints).

    `expand[]=a&expand[]=b` and `expand[0]=a&expand[1]=b` both decode to
    `{"expand": {"0": "a", "1": "b"}}`; readers turn such hashes into lists.
    """
    pairs = tuple(parse_qsl(raw, keep_blank_values=True))
    params: Params = {}
    for key, value in pairs:
        _insert(params, key, value)
    return params, pairs


def _insert(params: Params, key: str, value: str) -> None:
    bracket = key.find("[")
    if bracket <= 0:
        params[key] = value
        return
    path = [key[:bracket], *_KEY_PART.findall(key, bracket)]
    container = params
    for depth, part in enumerate(path[:-1]):
        child = container.setdefault(part, {})
        if not isinstance(child, dict):
            raise invalid_request(f"Invalid hash: {'.'.join(path[: depth + 1])}", param=path[0])
        container = child
    last = path[-1] or str(len(container))
    container[last] = value


@dataclass(frozen=True)
class CreatedRange:
    """A `created` filter, e.g. `created[gte]=1700000000&created[lt]=1700003600`."""

    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None

    def contains(self, created: int) -> bool:
        return not (
            (self.gt is not None and created <= self.gt)
            or (self.gte is not None and created < self.gte)
            or (self.lt is not None and created >= self.lt)
            or (self.lte is not None and created > self.lte)
        )


class ParamReader:
    """Typed access to request params, raising Stripe's errors for bad input."""

    def __init__(self, params: Params) -> None:
        self.params = params

    def reject_unknown(self, allowed: frozenset[str]) -> None:
        for name in self.params:
            if name not in allowed:
                raise parameter_unknown(name)

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self.params.get(name)
        if value is None or value == "":
            if required:
                raise parameter_missing(name)
            return None
        if not isinstance(value, str):
            raise invalid_request(f"Invalid string: {_describe(value)}", param=name)
        return value

    def integer(
        self, name: str, *, required: bool = False, minimum: int | None = None
    ) -> int | None:
        raw = self.string(name, required=required)
        if raw is None:
            return None
        if not _INTEGER.match(raw):
            raise invalid_integer(name, raw)
        number = int(raw)
        if minimum is not None and number < minimum:
            raise integer_too_small(name, minimum)
        return number

    def boolean(self, name: str) -> bool | None:
        raw = self.string(name)
        if raw is None:
            return None
        if raw not in ("true", "false"):
            raise invalid_request(f"Invalid boolean: {raw}", param=name)
        return raw == "true"

    def enum(self, name: str, allowed: tuple[str, ...]) -> str | None:
        raw = self.string(name)
        if raw is not None and raw not in allowed:
            raise invalid_enum(name, allowed)
        return raw

    def hash(self, name: str, allowed_keys: frozenset[str]) -> dict[str, FormValue] | None:
        value = self.params.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise invalid_request(f"Invalid hash: {name}", param=name)
        for key in value:
            if key not in allowed_keys:
                raise parameter_unknown(f"{name}[{key}]")
        return value

    def string_list(self, name: str) -> list[str]:
        value = self.params.get(name)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        items = []
        for key in sorted(value, key=lambda k: int(k) if k.isdigit() else -1):
            item = value[key]
            if not isinstance(item, str) or not key.isdigit():
                raise invalid_request(f"Invalid array: {name}", param=name)
            items.append(item)
        return items

    def metadata(self, name: str = "metadata") -> dict[str, str]:
        value = self.params.get(name)
        if value is None or value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid_request("Invalid metadata: metadata must be a hash", param=name)
        if len(value) > METADATA_MAX_KEYS:
            raise invalid_request(
                f"Invalid metadata: metadata can have up to {METADATA_MAX_KEYS} keys", param=name
            )
        metadata: dict[str, str] = {}
        for key, item in value.items():
            if not isinstance(item, str):
                raise invalid_request(f"Invalid metadata[{key}]: must be a string", param=name)
            if len(key) > METADATA_MAX_KEY_LENGTH:
                raise invalid_request(
                    f"Metadata keys can have up to {METADATA_MAX_KEY_LENGTH} characters; "
                    f"'{key}' has {len(key)}.",
                    param=f"{name}[{key}]",
                )
            if len(item) > METADATA_MAX_VALUE_LENGTH:
                raise invalid_request(
                    f"Metadata values can have up to {METADATA_MAX_VALUE_LENGTH} characters, "
                    f"but you passed in a value that is {len(item)} characters.",
                    param=f"{name}[{key}]",
                )
            if item != "":  # Stripe: an empty value unsets the key.
                metadata[key] = item
        return metadata

    def created_range(self, name: str = "created") -> CreatedRange | None:
        value = self.params.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            exact = self.integer(name)
            return CreatedRange(gte=exact, lte=exact)
        bounds = ParamReader(value)
        for key in value:
            if key not in ("gt", "gte", "lt", "lte"):
                raise parameter_unknown(f"{name}[{key}]")
        return CreatedRange(
            gt=_bound(bounds, name, "gt"),
            gte=_bound(bounds, name, "gte"),
            lt=_bound(bounds, name, "lt"),
            lte=_bound(bounds, name, "lte"),
        )

    def limit(self) -> int:
        """https://docs.stripe.com/api/pagination: 1..100, default 10."""
        limit = self.integer("limit", minimum=1)
        if limit is None:
            return 10
        if limit > 100:
            raise invalid_request(
                "This value must be less than or equal to 100.",
                param="limit",
                code="parameter_invalid_integer",
            )
        return limit


def _bound(bounds: ParamReader, name: str, key: str) -> int | None:
    try:
        return bounds.integer(key)
    except StripeError as error:
        error.param = f"{name}[{key}]"
        raise


def _describe(value: FormValue) -> str:
    return "hash" if isinstance(value, dict) else value
