"""Option values shared by several commands: ``--set key=value`` pairs, seed lists, torch threads, the command line."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from modalbench.errors import ModalbenchError


def parse_set(items: Sequence[str] | None) -> dict[str, Any]:
    """``--set key=value`` pairs; values are JSON when they parse as JSON, else strings (typed by the consumer)."""
    result: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ModalbenchError(f"--set {item!r}: expected key=value")
        try:
            result[key] = json.loads(value)
        except json.JSONDecodeError:
            result[key] = value
    return result


def parse_seeds(text: str | None) -> tuple[int, ...] | None:
    """``0,1,2`` → ``(0, 1, 2)``; distinct non-negative integers."""
    if text is None:
        return None
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ModalbenchError(f"--seeds {text!r}: expected comma-separated integers like 0,1,2") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ModalbenchError(f"--seeds {text!r}: expected distinct non-negative integers")
    return seeds


def command_line() -> str:
    """The command as typed (recorded in checkpoints and results)."""
    return "modalbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
