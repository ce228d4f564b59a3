"""Append-only journal of state mutations, replayed at start so a killed server forgets nothing."""

import json
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import JsonObject


class Journal:
    """One JSON line per mutation; a request's lines go in one write(), so kill -9 keeps them whole.

    Written to the OS page cache without fsync: that survives the process being killed,
    which is the failure chaos runs inject (not the machine losing power).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def replay(self) -> Iterator[JsonObject]:
        with self.path.open("rb") as journal:
            for line in journal:
                yield json.loads(line)

    def append(self, lines: list[str]) -> None:
        data = "".join(lines).encode()
        while data:
            written = os.write(self._fd, data)
            data = data[written:]

    def truncate(self) -> None:
        os.ftruncate(self._fd, 0)

    def close(self) -> None:
        os.close(self._fd)


def encode(record: JsonObject) -> str:
    return json.dumps(record, separators=(",", ":")) + "\n"


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line that a kill interrupted mid-write, so new lines start clean."""
    if not path.exists():
        return
    with path.open("rb+") as journal:
        data = journal.read()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            journal.truncate(end)
