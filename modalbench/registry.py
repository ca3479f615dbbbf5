"""Name-keyed registries (datasets, scenarios, baselines) that reject duplicates and suggest close matches."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from .errors import ModalbenchError, UnknownNameError

T = TypeVar("T")


def suggest_names(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates closest to ``name``: close spellings (case-insensitive), then prefixes of each other."""
    cands = list(dict.fromkeys(candidates))
    lowered = {k.lower(): k for k in cands}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    prefix = [k for k in cands if k.startswith(name) or name.startswith(k)]
    out: list[str] = []
    for k in [lowered[h] for h in hits] + prefix:
        if k not in out:
            out.append(k)
    return out[:n]


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """``"; did you mean 'a', 'b'?"`` for the candidates closest to ``name``, or ``""`` when none is close."""
    close = suggest_names(name, candidates, n)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


class Registry(Generic[T]):
    """A mapping from names to objects of one kind; aliases resolve to a canonical name.

    >>> r = Registry("dataset")
    >>> r.add("digits", 1)
    >>> r.get("digits")
    1
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def _check_free(self, name: str) -> None:
        if not name or name != name.strip():
            raise ValueError(f"invalid {self.kind} name {name!r}")
        if name in self._items or name in self._aliases:
            raise ModalbenchError(f"{self.kind} {name!r} is already registered")

    def add(self, name: str, obj: T, aliases: Iterable[str] = ()) -> None:
        """Register ``obj`` under ``name`` (and ``aliases``, which resolve to ``name``); a second registration of
        a name or alias is an error."""
        aliases = list(aliases)
        for n in [name, *aliases]:
            self._check_free(n)
        if len(set(aliases)) != len(aliases) or name in aliases:
            raise ValueError(f"{self.kind} {name!r}: repeated alias in {aliases!r}")
        self._items[name] = obj
        for a in aliases:
            self._aliases[a] = name

    def register(self, name: str, aliases: Iterable[str] = ()) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(obj: T) -> T:
            self.add(name, obj, aliases)
            return obj

        return deco

    def canonical(self, name: str) -> str:
        """The registered name for ``name`` or one of its aliases; raises :class:`UnknownNameError`."""
        if name in self._items:
            return name
        if name in self._aliases:
            return self._aliases[name]
        known = ", ".join(sorted(self._items)) or "none"
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}{did_you_mean(name, self._all_names())} (registered: {known})"
        )

    def aliases(self, name: str) -> list[str]:
        """The aliases declared for the registered ``name``."""
        return sorted(a for a, n in self._aliases.items() if n == name)

    def _all_names(self) -> list[str]:
        return list(self._items) + list(self._aliases)

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """The registered names (or aliases) closest to ``name``."""
        return suggest_names(name, self._all_names(), n)

    def get(self, name: str) -> T:
        """The object registered under ``name`` or an alias; raises :class:`UnknownNameError` with suggestions."""
        return self._items[self.canonical(name)]

    def names(self) -> list[str]:
        """The canonical names, sorted (aliases are not listed)."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
