"""Objects kept in creation order, paginated like Stripe lists: https://docs.stripe.com/api/pagination."""

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import resource_missing
from .forms import CreatedRange

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    limit: int = 10
    starting_after: str | None = None
    ending_before: str | None = None
    created: CreatedRange | None = None


class TimeOrderedIndex(Generic[T]):
    """Id → object, kept in `created` order so that lists cost O(log n + page), not O(n).

    Objects normally arrive in time order and are appended. One older than the newest (bulk
    seeding with past timestamps, its journal replay, a wall clock stepping back) marks the
    index unsorted; the next read sorts it once, stably, so equal timestamps keep arrival order.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self._objects: dict[str, T] = {}
        self._ids: list[str] = []
        self._created: list[int] = []
        self._position: dict[str, int] = {}
        self._sorted = True

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, object_id: str) -> bool:
        return object_id in self._objects

    def get(self, object_id: str) -> T | None:
        return self._objects.get(object_id)

    def put(self, object_id: str, created: int, obj: T) -> bool:
        """Insert or replace; True when the id is new."""
        is_new = object_id not in self._objects
        self._objects[object_id] = obj
        if is_new:
            if self._created and created < self._created[-1]:
                self._sorted = False
            self._position[object_id] = len(self._ids)
            self._ids.append(object_id)
            self._created.append(created)
        return is_new

    def values(self) -> Iterator[T]:
        self._ensure_sorted()
        return (self._objects[object_id] for object_id in self._ids)

    def page(
        self,
        request: PageRequest,
        matches: Callable[[T], bool] | None = None,
        subset: Iterable[str] | None = None,
    ) -> tuple[list[T], bool]:
        """Newest first; `subset` restricts to some ids (an index), `matches` filters further."""
        self._ensure_sorted()
        low, high = self._created_bounds(request.created)
        backwards = request.ending_before is not None and request.starting_after is None
        if request.starting_after is not None:
            high = min(high, self._cursor(request.starting_after, "starting_after"))
        if request.ending_before is not None:
            low = max(low, self._cursor(request.ending_before, "ending_before") + 1)
        if subset is None:
            positions: Iterable[int] = (
                range(low, high) if backwards else range(high - 1, low - 1, -1)
            )
        else:
            chosen = sorted(p for p in (self._position[i] for i in subset) if low <= p < high)
            positions = chosen if backwards else reversed(chosen)
        found: list[T] = []
        for position in positions:
            obj = self._objects[self._ids[position]]
            if matches is None or matches(obj):
                found.append(obj)
                if len(found) > request.limit:
                    break
        has_more = len(found) > request.limit
        found = found[: request.limit]
        if backwards:
            found.reverse()
        return found, has_more

    def _ensure_sorted(self) -> None:
        """Bisecting on `created` needs the lists in time order."""
        if self._sorted:
            return
        order = sorted(range(len(self._ids)), key=self._created.__getitem__)
        self._ids = [self._ids[n] for n in order]
        self._created = [self._created[n] for n in order]
        self._position = {object_id: n for n, object_id in enumerate(self._ids)}
        self._sorted = True

    def _created_bounds(self, created: CreatedRange | None) -> tuple[int, int]:
        low, high = 0, len(self._ids)
        if created is None:
            return low, high
        if created.gte is not None:
            low = max(low, bisect_left(self._created, created.gte))
        if created.gt is not None:
            low = max(low, bisect_right(self._created, created.gt))
        if created.lte is not None:
            high = min(high, bisect_right(self._created, created.lte))
        if created.lt is not None:
            high = min(high, bisect_left(self._created, created.lt))
        return low, high

    def _cursor(self, object_id: str, param: str) -> int:
        position = self._position.get(object_id)
        if position is None:
            raise resource_missing(self.label, object_id, param=param)
        return position

    def clear(self) -> None:
        self._objects.clear()
        self._ids.clear()
        self._created.clear()
        self._position.clear()
        self._sorted = True
