"""Lay out ``.typecheck/modalbench`` as the installed package (symlinks), so mypy sees ``modalbench.loaders`` etc.

setuptools maps the repo folders onto ``modalbench.*`` (``package-dir``); mypy cannot follow that mapping, so it
checks this tree instead (``mypy_path = ".typecheck"`` in ``pyproject.toml``).
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    package_dir = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    tree = REPO / ".typecheck"
    shutil.rmtree(tree, ignore_errors=True)
    top = tree / "modalbench"
    top.mkdir(parents=True)
    for entry in sorted((REPO / "modalbench").iterdir()):
        if entry.name != "__pycache__":
            (top / entry.name).symlink_to(entry)
    for name, folder in package_dir.items():
        if name != "modalbench" and name.count(".") == 1:
            (top / name.split(".", 1)[1]).symlink_to(REPO / folder)


if __name__ == "__main__":
    main()
