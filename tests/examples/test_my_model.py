"""examples/my_model.py end to end, as a user runs it: evaluate from its folder, submit to their own leaderboard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _modalbench(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODALBENCH_HOME": str(home)}
    env.pop("PYTHONPATH", None)  # the current directory must be importable without it
    return subprocess.run([sys.executable, "-m", "modalbench", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_example_model_is_evaluated_and_submitted_to_the_users_leaderboard(digits_root, tmp_path):
    results = tmp_path / "my.json"
    proc = _modalbench(
        "evaluate",
        "--dataset",
        "digits",
        "--model",
        "my_model:make_model",
        "--seeds",
        "0,1,2",
        "--name",
        "my-mlp",
        "--threads",
        "1",
        "--quiet",
        "--out",
        str(results),
        cwd=EXAMPLES,
        home=digits_root,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(results.read_text())
    assert [s["id"] for s in res["scenarios"]] == ["full@v1", "missing-modalities@v2", "random-missing@v1"]
    assert res["aggregates"]["full@v1"]["metrics"]["f1_weighted"]["mean"] > 0.85  # a real, trained model
    by_n = {
        p["n_available"]: p["metrics"]["f1_weighted"]["mean"]
        for p in res["aggregates"]["missing-modalities@v2"]["by_n_available"]
    }
    assert by_n[1] > 0.4  # trained with modality dropout: one half alone is far above chance (0.1)
    proc = _modalbench("submit", str(results), cwd=tmp_path, home=digits_root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    board = digits_root / "leaderboard"
    assert (board / "submissions" / "digits" / "digit" / "my-mlp--full-modality.json").is_file()
    assert "accepted (ranked)" in proc.stdout and str(board) in proc.stdout
    proc = _modalbench("leaderboard", "--dataset", "digits", "--json", cwd=tmp_path, home=digits_root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"leaderboard: {board}" in proc.stderr
    rows = [r for r in json.loads(proc.stdout) if r["source"] == "reproduced"]
    assert {r["model"] for r in rows} == {"my-mlp"} and {r["rank"] for r in rows} == {1}
