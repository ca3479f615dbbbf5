"""CI gate: every committed submission is valid where it lies, and leaderboard.json is up to date."""

from __future__ import annotations

from modalbench.leaderboard.board import (
    DEFAULT_DIR,
    LEADERBOARD_FILE,
    build_leaderboard,
    leaderboard_bytes,
    official_path,
    read_json,
    submission_files,
    submission_path,
)
from modalbench.leaderboard.official import load_official
from modalbench.leaderboard.submit import check_submission

FILES = submission_files(DEFAULT_DIR)


def test_submissions_folder_exists() -> None:
    assert (DEFAULT_DIR / "submissions").is_dir()
    stray = [
        p for p in (DEFAULT_DIR / "submissions").rglob("*") if p.is_file() and p.name != "README.md" and p not in FILES
    ]
    assert not stray, f"files outside submissions/<dataset>/<task>/<model>--<regime>.json: {stray}"


def test_committed_submissions_are_valid() -> None:
    """Re-check every file (schema, official values, aggregates) and that it sits at its key's path."""
    official = load_official(official_path(DEFAULT_DIR))
    problems = []
    for path in FILES:
        rel = path.relative_to(DEFAULT_DIR).as_posix()
        result = read_json(path)
        verdict = check_submission(result, DEFAULT_DIR, official, own_path=path)
        problems += [f"{rel}: {p}" for p in verdict.problems]
        if not verdict.problems:
            expected = submission_path(
                DEFAULT_DIR, result["dataset"]["name"], result["task"], result["model"]["name"], result["regime"]
            )
            if expected.resolve() != path.resolve():
                problems.append(f"{rel}: should be at {expected.relative_to(DEFAULT_DIR).as_posix()}")
    assert not problems, "\n".join(problems)


def test_leaderboard_json_is_up_to_date() -> None:
    committed = (DEFAULT_DIR / LEADERBOARD_FILE).read_bytes()
    rebuilt = leaderboard_bytes(build_leaderboard(DEFAULT_DIR))
    assert committed == rebuilt, "leaderboard.json is stale: run modalbench.leaderboard.submit.rebuild_leaderboard()"
