"""Property test: generated bad arguments and paths give exit 2, one line on stderr, no traceback, nothing written."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modalbench.app.cli import main

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)
NOT_A_NUMBER = TEXT.filter(lambda t: not t.strip().lstrip("+-").replace(".", "", 1).isdigit())
#: values each numeric ``train`` option must refuse (``--seed`` accepts 0; the others need at least 1)
BAD_VALUES = {
    "--epochs": st.integers(max_value=0),
    "--batch-size": st.integers(max_value=0),
    "--threads": st.integers(max_value=0),
    "--patience": st.integers(max_value=0),
    "--seed": st.integers(max_value=-1),
    "--lr": st.integers(max_value=0),
}


def run(argv: list[str]) -> tuple[int | str | None, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code: int | str | None = main(argv)
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
    return code, err.getvalue()


def assert_one_line_exit_2(code: int | str | None, err: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err


def snapshot(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), option=st.sampled_from(sorted(BAD_VALUES)))
def test_bad_numbers_for_train(digits_root: Path, tmp_path: Path, data: st.DataObject, option: str) -> None:
    value = data.draw(st.one_of(NOT_A_NUMBER, BAD_VALUES[option].map(str)), label="value")
    out = tmp_path / f"never-{abs(hash((option, value)))}"  # examples share tmp_path: one output dir each
    before = snapshot(digits_root)
    code, err = run(
        ["train", "early", "--dataset", "digits", "--root", str(digits_root), "--out", str(out), f"{option}={value}"]
    )
    assert_one_line_exit_2(code, err)
    assert not out.exists() and snapshot(digits_root) == before


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["embrace_dim", "adj_pre", "dropout", "p_missing", "embrace_dimm", "zz"]), value=TEXT)
def test_bad_set_values_for_train(digits_root: Path, tmp_path: Path, key: str, value: str) -> None:
    """A ``--set`` value that is not valid for the method (or an unknown key) is refused before training."""
    from modalbench.baselines.registry import validate_hparams
    from modalbench.errors import ModalbenchError

    try:
        validate_hparams("embracenet", {key: value})
    except ModalbenchError:
        pass
    else:
        return  # a valid value: nothing to refuse
    out = tmp_path / "never"
    code, err = run(
        [
            "train",
            "embracenet",
            "--dataset",
            "digits",
            "--root",
            str(digits_root),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--set",
            f"{key}={value}",
        ]
    )
    assert_one_line_exit_2(code, err)
    assert not out.exists()


@pytest.mark.parametrize("kind", ["directory", "missing", "fifo", "under-a-file", "empty", "not-json"])
def test_bad_paths_for_submit(tmp_path: Path, kind: str) -> None:
    board = tmp_path / "board"
    target = tmp_path / "target"
    if kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "under-a-file":
        (tmp_path / "file").write_text("x")
        target = tmp_path / "file" / "results.json"
    elif kind == "empty":
        target.write_text("")
    elif kind == "not-json":
        target.write_text("{'regime': 1,")
    code, err = run(["submit", str(target), "--leaderboard", str(board)])
    assert_one_line_exit_2(code, err)
    assert not (board / "submissions").exists()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=300))
def test_unknown_or_overlong_names(tmp_path: Path, name: str) -> None:
    code, err = run(["prepare", "x" + name, "--root", str(tmp_path)])
    assert_one_line_exit_2(code, err)
    assert snapshot(tmp_path) == []


@pytest.mark.parametrize(
    "extra",
    [
        ["--regime", "modality-dropout", "--set", "p_drop=2"],
        ["--regime", "curriculum-dropout", "--set", "p_drop=0"],
        ["--train-scenario", "xyz"],
        ["--train-scenario", "missing-modalities:both"],
        ["--train-scenario", "train-missing:no-such-condition"],
        ["--device", "cuda:7"],
    ],
    ids=["p_drop-2", "p_drop-0", "unknown-scenario", "test-scenario", "unknown-condition", "absent-gpu"],
)
def test_bad_training_options_are_the_only_line_on_stderr(digits_root: Path, tmp_path: Path, extra: list[str]) -> None:
    """Regime, training-scenario and device values are checked before the "training …" status line is printed."""
    out = tmp_path / "never"
    code, err = run(["train", "early", "--dataset", "digits", "--root", str(digits_root), "--out", str(out), *extra])
    assert_one_line_exit_2(code, err)
    assert not out.exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fill=st.sampled_from(["knn", "regress", "mean", "interpolate", None]),
    name=st.sampled_from(["k", "alpha", "kk", "n_fit"]),
    value=st.one_of(TEXT, st.integers(max_value=0).map(str)),
)
def test_bad_fill_params_for_evaluate(tmp_path: Path, fill: str | None, name: str, value: str) -> None:
    """A ``--fill-param`` that does not fit ``--fill`` (unknown name, bad value, a fill without parameters, no
    ``--fill``) is one line naming the option, before anything is read or written."""
    from modalbench.errors import ModalbenchError
    from modalbench.fills import resolve_fill_params

    if fill is not None:
        try:
            resolve_fill_params(fill, {name: value})
        except ModalbenchError:
            pass
        else:
            return  # a valid value: nothing to refuse
    out = tmp_path / f"never-{abs(hash((fill, name, value)))}.json"
    argv = ["evaluate", "--dataset", "digits", "--root", str(tmp_path / "absent"), "--checkpoint", str(tmp_path)]
    code, err = run([*argv, *(["--fill", fill] if fill else []), "--fill-param", f"{name}={value}", "--out", str(out)])
    assert_one_line_exit_2(code, err)
    assert "--fill-param" in err and not out.exists() and not (tmp_path / "absent").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--fill", "knn", "--fill-param", "k=0"], "--fill-param: parameter 'k': expected an integer >= 1, got '0'"),
        (["--fill-param", "k=3"], "--fill-param: fill 'mean' takes no parameters"),
        (["--fill", "regress", "--fill-param", "alpha"], "--fill-param 'alpha': expected NAME=VALUE"),
    ],
    ids=["k-0", "mean", "no-value"],
)
def test_bad_fill_params_for_train_are_the_only_line(
    digits_root: Path, tmp_path: Path, extra: list, message: str
) -> None:
    out = tmp_path / "never"
    code, err = run(["train", "early", "--dataset", "digits", "--root", str(digits_root), "--out", str(out), *extra])
    assert_one_line_exit_2(code, err)
    assert message in err and not out.exists()
