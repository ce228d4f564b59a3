"""Stripe's search query language, the PaymentIntent subset: https://docs.stripe.com/search#search-query-language."""

import re
from dataclasses import dataclass

from .errors import JsonObject, StripeError, invalid_request

SEARCHABLE_FIELDS = frozenset({"amount", "created", "currency", "customer", "metadata", "status"})
NUMERIC_FIELDS = frozenset({"amount", "created"})

_CLAUSE = re.compile(
    r"""\s*(?P<negate>-?)
    (?:metadata\[(?P<quote>['"])(?P<key>.*?)(?P=quote)\]|(?P<field>[a-z_]+))
    \s*(?P<op>:|>=|<=|>|<)\s*
    (?:'(?P<single>(?:[^'\\]|\\.)*)'|"(?P<double>(?:[^"\\]|\\.)*)"|(?P<number>-?[0-9]+))
    \s*""",
    re.VERBOSE,
)
_CONNECTIVE = re.compile(r"(AND|OR)\b")


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    value: str
    metadata_key: str | None = None
    negate: bool = False

    def matches(self, obj: JsonObject) -> bool:
        if self.metadata_key is not None:
            found = bool(obj["metadata"].get(self.metadata_key) == self.value)
        elif self.field in NUMERIC_FIELDS:
            found = _compare(obj[self.field], self.op, int(self.value))
        else:
            found = bool(obj[self.field] == self.value)
        return found != self.negate


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]
    any_of: bool  # OR instead of AND

    def matches(self, obj: JsonObject) -> bool:
        results = (clause.matches(obj) for clause in self.clauses)
        return any(results) if self.any_of else all(results)

    def metadata_terms(self) -> list[tuple[str, str]]:
        """(key, value) pairs every match must have: the index lookups that narrow a search."""
        if self.any_of:
            return []
        return [
            (clause.metadata_key, clause.value)
            for clause in self.clauses
            if clause.metadata_key is not None and not clause.negate
        ]


def parse_query(text: str) -> Query:
    position = 0
    clauses: list[Clause] = []
    connectives: set[str] = set()
    while True:
        match = _CLAUSE.match(text, position)
        if match is None:
            raise _invalid(f"could not parse the query at position {position}: {text[position:]!r}")
        clauses.append(_clause(match))
        position = match.end()
        if position == len(text):
            break
        connective = _CONNECTIVE.match(text, position)
        if connective is None:
            raise _invalid(f"expected AND or OR at position {position}")
        connectives.add(connective.group(1))
        position = connective.end()
    if len(connectives) > 1:
        raise _invalid("AND and OR cannot be combined in one query")
    return Query(tuple(clauses), any_of=connectives == {"OR"})


def _clause(match: re.Match[str]) -> Clause:
    key = match.group("key")
    field = "metadata" if key is not None else match.group("field")
    op = match.group("op")
    number = match.group("number")
    raw = match.group("single") if match.group("single") is not None else match.group("double")
    value = number if number is not None else re.sub(r"\\(.)", r"\1", raw)
    if field not in SEARCHABLE_FIELDS:
        raise _invalid(f"'{field}' is not a supported search field")
    if field == "metadata" and key is None:
        raise _invalid("metadata must be searched as metadata['key']")
    if op != ":" and field not in NUMERIC_FIELDS:
        raise _invalid(f"'{field}' only supports the ':' operator")
    if field in NUMERIC_FIELDS and number is None:
        raise _invalid(f"'{field}' must be compared with a number")
    return Clause(field, op, value, key, match.group("negate") == "-")


def _compare(actual: int, op: str, expected: int) -> bool:
    if op == ":":
        return actual == expected
    if op == ">":
        return actual > expected
    if op == "<":
        return actual < expected
    if op == ">=":
        return actual >= expected
    return actual <= expected


def _invalid(reason: str) -> StripeError:
    return invalid_request(f"Invalid search query: {reason}.", param="query")
