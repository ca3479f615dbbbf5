"""The command line: one subprocess smoke test (entry point, start-up without torch), the rest in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

from modalbench.app.cli import build_parser, main
from modalbench.store import with_window_variables

LIGHT_COMMANDS = """
import sys
from modalbench.app.cli import main
root = sys.argv[1]
for argv in (["--help"], ["datasets", "--root", root], ["info", "digits", "--root", root, "--json"],
             ["scenarios", "digits", "--root", root, "--list"], ["leaderboard", "--dataset", "digits"]):
    try:
        code = main(argv)
    except SystemExit as exc:  # --help
        code = exc.code
    assert code == 0, (argv, code)
    assert "torch" not in sys.modules, f"{argv} imported torch"
print("light commands ok")
"""


def test_entry_point_and_light_commands_without_torch(digits_root: Path) -> None:
    """``python -m modalbench`` runs, and --help, datasets, info, scenarios, leaderboard never import torch."""
    proc = subprocess.run(
        [sys.executable, "-m", "modalbench", "info", "digits", "--root", str(digits_root)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(str(digits_root)) == 1  # the store path is printed once
    proc = subprocess.run([sys.executable, "-c", LIGHT_COMMANDS, str(digits_root)], capture_output=True, text=True)
    assert proc.returncode == 0 and "light commands ok" in proc.stdout, proc.stderr[-2000:]


def test_prepare_info_datasets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prepare", "digits", "--quiet", "--root", str(tmp_path)]) == 0
    assert "fingerprint:" in capsys.readouterr().out
    assert main(["info", "digits", "--json", "--root", str(tmp_path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in info["modalities"]] == ["left", "right"]
    assert sum(info["n_samples"].values()) == 1797 and set(info["n_samples"]) == {"train", "val", "test"}
    assert len(info["fingerprint"]) == 64
    ds = with_window_variables(xr.open_zarr(info["path"], consolidated=False))
    assert {"left", "right", "label", "split", "available"} <= set(ds.data_vars)
    assert main(["datasets", "--json", "--root", str(tmp_path)]) == 0
    by_name = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert by_name["digits"]["prepared"] is True and by_name["synthetic"]["prepared"] is False
    assert by_name["digits"]["n_modalities"] == 2 and by_name["digits"]["n_classes"] == 10
    assert main(["datasets", "--json", "--root", str(tmp_path / "other")]) == 0
    assert {r["name"]: r for r in json.loads(capsys.readouterr().out)}["digits"]["prepared"] is False


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["prepare", "digts"], "did you mean 'digits'"),
        (["info", "digits"], "modalbench prepare digits"),
        (["prepare", "digits", "--workers", "0"], "--workers"),
        (["prepare", "digits", "--set", "nosuch=1"], "unknown parameter 'nosuch'"),
        (["train", "early", "--dataset", "digits", "--threads", "x"], "--threads"),
        (["evaluate", "--dataset", "digits", "--batch-size", "-3"], "--batch-size"),
        (["scenarios", "digits", "--seed", "-1"], "--seed"),
        (["nosuchcommand"], "invalid choice"),
        (["prepare", "digits", "--mirror", "::no-such-dir"], "--mirror '::no-such-dir'"),
        (["prepare", "digits", "--mirror", "ftp://host/x"], "must be an http://"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert run_main([*argv, "--root", str(tmp_path)] if argv[0] != "nosuchcommand" else argv) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "digits").exists() or argv[:2] != ["info", "digits"]


def test_os_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A root under a regular file (not a directory) cannot be written: one line, exit 2."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["prepare", "digits", "--quiet", "--root", str(blocker / "root")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    from modalbench.errors import ModalbenchError

    with pytest.raises(ModalbenchError):
        main(["--verbose", "prepare", "digts", "--root", str(tmp_path)])


def test_shared_options_are_declared_once() -> None:
    """--root/--threads/--device come from one definition: the same help text on every command that has them."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    helps: dict[str, set[str]] = {}
    for cmd in sub.choices.values():  # type: ignore[union-attr]
        for action in cmd._actions:
            for opt in ("--root", "--threads", "--device"):
                if opt in action.option_strings:
                    helps.setdefault(opt, set()).add(action.help or "")
    assert set(helps) == {"--root", "--threads", "--device"}
    assert all(len(texts) == 1 for texts in helps.values()), helps


def run_main(argv: list[str]) -> int | str | None:
    """``main(argv)``; argparse's own errors exit through SystemExit, returned here as the exit code."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_datasets_table_fits_80_columns_and_keeps_sources_whole(tmp_path: Path, capsys) -> None:
    from modalbench.app.console import plural
    from modalbench.app.data import dataset_rows

    assert main(["datasets", "--root", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert all(len(line) <= 80 or line.strip().startswith("https://") for line in text.splitlines()), text
    for row in dataset_rows(str(tmp_path)):
        assert row["source"] in text  # whole URLs, never cut or folded
    assert (plural(1, "condition"), plural(255, "condition")) == ("1 condition", "255 conditions")
