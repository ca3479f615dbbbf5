"""Name-keyed registries (datasets, scenarios, baselines) that reject duplicates and suggest close matches."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import ModalbenchError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to objects of one kind.

    >>> r = Registry("dataset")
    >>> r.add("digits", 1)
    >>> r.get("digits")
    1
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, obj: T) -> None:
        """Register ``obj`` under ``name``; a second registration of the same name is an error."""
        if not name or name != name.strip():
            raise ValueError(f"invalid {self.kind} name {name!r}")
        if name in self._items:
            raise ModalbenchError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """The registered names closest to ``name``."""
        lowered = {k.lower(): k for k in self._items}
        hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
        prefix = [k for k in self._items if k.startswith(name) or name.startswith(k)]
        out: list[str] = []
        for k in [lowered[h] for h in hits] + prefix:
            if k not in out:
                out.append(k)
        return out[:n]

    def get(self, name: str) -> T:
        """The object registered under ``name``; raises :class:`UnknownNameError` with suggestions."""
        try:
            return self._items[name]
        except KeyError:
            close = self.suggest(name)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            known = ", ".join(sorted(self._items)) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}{hint} (registered: {known})") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
