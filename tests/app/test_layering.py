"""The import graph of the package folders: the core imports no stage, stages import only the core."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

from import_graph import folder_edges, layering_problems  # noqa: E402


def test_layering_rules_hold() -> None:
    problems = layering_problems(REPO)
    assert not problems, "\n".join(problems)


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    """A core module importing a stage, a stage importing another stage, a hidden function-level import: all caught."""
    for folder in (
        "modalbench",
        "modalbench/app",
        "loaders",
        "preprocess",
        "baselines",
        "engine",
        "leaderboard",
        "scenarios",
    ):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    (tmp_path / "modalbench" / "store.py").write_text("from modalbench.scenarios import fill\n")
    (tmp_path / "baselines" / "late.py").write_text("def f():\n    from modalbench.engine import trainer\n")
    (tmp_path / "leaderboard" / "view.py").write_text("from .board import x\nfrom modalbench.errors import E\n")
    problems = layering_problems(tmp_path)
    assert any("modalbench/store.py" in p and "scenarios" in p for p in problems)
    assert any("baselines/late.py" in p and "engine" in p for p in problems)
    assert not any("leaderboard/view.py" in p for p in problems)
    edges = folder_edges(tmp_path)
    assert ("baselines", "engine") in edges
