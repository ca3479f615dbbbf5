"""Names of the standard scenario families (kept import-light for the command line)."""

from __future__ import annotations

#: The families ``modalbench scenarios NAME`` generates when none is named (newest version of each).
STANDARD_FAMILIES = ("full", "missing-modalities", "random-missing", "block-missing")
