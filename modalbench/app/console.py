"""The command line's one pair of consoles (results on stdout, messages on stderr) and its JSON printer."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

#: width of results written to a pipe or file (CI logs, ``| less``, e-mails): the classic terminal
PIPE_WIDTH = 80
#: results: the terminal's width, :data:`PIPE_WIDTH` columns when stdout is not a terminal
out = Console(width=None if sys.stdout.isatty() else PIPE_WIDTH, highlight=False)
#: progress, warnings and errors
err = Console(stderr=True, highlight=False)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 condition``, ``2 conditions``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def print_json(obj: Any) -> None:
    """``obj`` as indented, key-sorted JSON on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")
