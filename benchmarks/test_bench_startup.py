"""Benchmark 5 — command start-up: wall time of ``modalbench --help`` and ``modalbench info digits`` in a fresh
interpreter, against ``python -c pass`` (the interpreter alone) in the same run. Target: ``--help`` under 0.3 s;
neither command imports torch (checked by ``tests/app/test_cli.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str) -> None:
    subprocess.run([sys.executable, *args], check=True, capture_output=True)


@pytest.mark.parametrize("command", [("--help",), ("info", "digits")], ids=["help", "info"])
def test_startup_modalbench(benchmark, digits_store: Path, command: tuple[str, ...]) -> None:
    benchmark.group = "startup"
    benchmark.extra_info.update(role="modalbench", items=1)
    args = ("-m", "modalbench", *command, *(("--root", str(digits_store)) if command[0] == "info" else ()))
    benchmark.pedantic(_run, args=args, rounds=5, warmup_rounds=1)


def test_startup_interpreter(benchmark) -> None:
    benchmark.group = "startup"
    benchmark.extra_info.update(role="reference", reference="python -c pass", items=1)
    benchmark.pedantic(_run, args=("-c", "pass"), rounds=5, warmup_rounds=1)
