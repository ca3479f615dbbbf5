"""The command line's one pair of consoles (results on stdout, messages on stderr) and its JSON printer."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

#: results: the terminal's width, 120 columns when stdout is not a terminal (pipes, CI logs)
out = Console(width=None if sys.stdout.isatty() else 120, highlight=False)
#: progress, warnings and errors
err = Console(stderr=True, highlight=False)


def print_json(obj: Any) -> None:
    """``obj`` as indented, key-sorted JSON on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")
