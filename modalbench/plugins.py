"""Plug-ins: datasets, methods and scenario families registered from outside the package.

A plug-in is a module that registers with ``@register_dataset``, ``@register_baseline`` or ``@register_scenario``
when imported. modalbench imports plug-ins from three places, once per process:

* the entry-point groups ``modalbench.datasets``, ``modalbench.methods`` and ``modalbench.scenarios`` of installed
  distributions (the built-ins are registered the same way, in ``pyproject.toml``);
* the environment variable ``MODALBENCH_PLUGINS`` (module names separated by commas);
* ``modalbench --plugin MODULE`` (repeatable), which calls :func:`import_modules`.
"""

from __future__ import annotations

import importlib
import os
import sys
from importlib.metadata import entry_points

from .errors import ModalbenchError

GROUPS = ("modalbench.datasets", "modalbench.methods", "modalbench.scenarios")
ENV_VAR = "MODALBENCH_PLUGINS"

_loaded: set[str] = set()


def import_modules(names: list[str] | tuple[str, ...], *, origin: str = "--plugin") -> None:
    """Import plug-in modules by name; the current directory is importable (as for ``python -m``)."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in names:
        name = name.strip()
        if not name or name in _loaded:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ModalbenchError(f"{origin} {name!r}: cannot import it ({exc})") from None
        _loaded.add(name)


def load_plugins(group: str) -> None:
    """Import every module registered under the entry-point ``group``, then those named in ``MODALBENCH_PLUGINS``."""
    if group not in GROUPS:
        raise ValueError(f"unknown plug-in group {group!r}")
    if group not in _loaded:
        _loaded.add(group)
        for ep in entry_points(group=group):
            try:
                ep.load()
            except ImportError as exc:
                raise ModalbenchError(
                    f"plug-in {ep.name!r} ({ep.value}, entry point group {group}) cannot be imported: {exc}"
                ) from None
    env = os.environ.get(ENV_VAR, "")
    if env:
        import_modules(env.split(","), origin=ENV_VAR)
