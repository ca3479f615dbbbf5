"""Exceptions that the CLI turns into one clear line and exit code 2."""

from __future__ import annotations


class ModalbenchError(Exception):
    """A user-facing error: bad input, missing files, unknown names. No traceback is shown."""


class UnknownNameError(ModalbenchError, KeyError):
    """An unknown registry key; the message suggests the closest registered names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class StoreError(ModalbenchError):
    """A store is missing, incomplete, or was prepared with different parameters."""
