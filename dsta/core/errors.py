"""One error type for bad input: it names the file and the field, and nothing else needs a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


class DataError(ValueError):
    """Bad input data or configuration.

    Args:
        path: the file (or directory) at fault; ``None`` for in-memory values.
        field: the field inside it, as a dotted/indexed path such as ``annotations[3].keypoints``.
        message: what is wrong, in words.
    """

    def __init__(self, path: str | Path | None, field: str | None, message: str) -> None:
        self.path = None if path is None else str(path)
        self.field = field
        self.message = message
        where = ": ".join(p for p in (self.path, field) if p)
        super().__init__(f"{where}: {message}" if where else message)


def main_guard(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate a ``main`` so that a DataError exits with its one-line message (status 2), not a traceback."""
    import functools
    import sys

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except DataError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper


def doc_summary(doc: str | None) -> str:
    """A command's ``--help`` description: its module docstring's first paragraph as one line (the whole sentence,
    never its first line cut short)."""
    return " ".join((doc or "").strip().split("\n\n", 1)[0].split())
