"""``submit`` and ``leaderboard`` default to the user's own leaderboard under the data root."""

from __future__ import annotations

import json
from pathlib import Path

from modalbench.app.board import user_leaderboard
from modalbench.app.cli import main
from modalbench.leaderboard.board import PACKAGE_DIR


def test_users_leaderboard_is_created_under_the_data_root(tmp_path: Path, capsys) -> None:
    board = user_leaderboard(str(tmp_path))
    assert board == tmp_path / "leaderboard"
    assert (board / "official.json").read_bytes() == (PACKAGE_DIR / "official.json").read_bytes()
    assert (board / "reference" / "reported.json").is_file() and not (board / "submissions").exists()
    assert main(["leaderboard", "--root", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert f"leaderboard: {board} (yours" in captured.err
    rows = json.loads(captured.out)
    assert rows and {r["source"] for r in rows} == {"reported"}  # the reference rows, none of the project's entries


def test_explicit_leaderboard_directory_is_used(tmp_path: Path, capsys) -> None:
    assert (
        main(
            ["leaderboard", "--root", str(tmp_path), "--leaderboard", str(PACKAGE_DIR), "--dataset", "digits", "--json"]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert any(r["source"] == "reproduced" for r in json.loads(captured.out))
    assert not (tmp_path / "leaderboard").exists()
