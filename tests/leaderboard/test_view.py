"""Terminal/JSON views, the static site (without a browser) and the CLI glue."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from modalbench.app.cli import main
from modalbench.atomic import write_json_atomic
from modalbench.errors import ModalbenchError
from modalbench.leaderboard.board import build_leaderboard
from modalbench.leaderboard.example import make_result, official_for
from modalbench.leaderboard.site import build_site
from modalbench.leaderboard.submit import rebuild_leaderboard, submit
from modalbench.leaderboard.view import render_json, render_table, table_rows

MM = "missing-modalities@v1"


@pytest.fixture()
def lb(tmp_path: Path) -> Path:
    d = tmp_path / "lb"
    d.mkdir()
    write_json_atomic(d / "official.json", official_for(make_result()))
    for i, (model, seeds, skill) in enumerate(
        [("early", (0, 1, 2), 0.6), ("late", (0, 1, 2), 0.9), ("embracenet", (0, 1), 0.95)]
    ):
        p = tmp_path / f"{model}.json"
        p.write_text(json.dumps(make_result(model=model, seeds=seeds, skill=skill, rng_seed=i)))
        submit(p, d)
    return d


def test_rows_rank_reproduced_and_keep_reported_apart(lb: Path) -> None:
    board = build_leaderboard(lb)
    rows = table_rows(board, dataset="digits", scenario=MM)
    assert [(r["model"], r["rank"]) for r in rows] == [("late", 1), ("early", 2), ("embracenet", None)]
    assert all(r["source"] == "reproduced" for r in rows)
    assert table_rows(board, dataset="digits", scenario=MM.split("@")[0]) == rows  # family name = newest version
    opp = table_rows(board, dataset="opportunity", task="locomotion")
    assert len(opp) == 24 and {r["source"] for r in opp} == {"reported"} and all(r["rank"] is None for r in opp)
    assert opp[0]["citation"] == "embracenet-2019 Table 2"


def test_render_table_and_json(lb: Path) -> None:
    board = build_leaderboard(lb)
    console = Console(width=80, record=True)
    console.print(render_table(board, dataset="digits", scenario=MM))
    text = console.export_text()
    late = board["entries"][[e["model"]["name"] for e in board["entries"]].index("late")]
    s = late["scenarios"][MM]["metrics"]["f1_weighted"]
    assert f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f}" in text  # %, one decimal
    assert "weighted F1 %" in text and "12k" in text and "– = unranked" in text
    rows = json.loads(render_json(board, dataset="digits"))
    assert len(rows) == 6 and rows[0]["rank"] == 1


def test_terminal_tables_fit_80_columns_without_breaking_names(lb: Path) -> None:
    """Reproduced and reported rows (long method names, conditions, citations) in 80 columns, names whole."""
    board = build_leaderboard(lb)
    for kwargs in ({}, {"dataset": "digits"}, {"dataset": "opportunity"}):
        console = Console(width=80, record=True)
        console.print(render_table(board, **kwargs))
        lines = console.export_text().splitlines()
        assert max(len(line) for line in lines) <= 80, kwargs
        models = {r["model"] for r in table_rows(board, **kwargs) if r["source"] == "reproduced"}
        for model in models:  # a model name is never folded ("embracene/t")
            assert any(re.search(rf"\b{model}\b", line) for line in lines), (kwargs, model)
    console = Console(width=80, record=True)
    console.print(render_table(board, dataset="opportunity", task="locomotion"))
    text = console.export_text()
    assert "reported in embracenet-2019 Table 2" in text and "missing-modalities-80pct" in text


def test_unknown_filters_suggest_close_names(lb: Path) -> None:
    board = build_leaderboard(lb)
    with pytest.raises(ModalbenchError, match="did you mean 'digits'"):
        table_rows(board, dataset="digit")
    assert table_rows(board, dataset="synthetic") == []  # a registered dataset without entries: empty, no error
    with pytest.raises(ModalbenchError, match="unknown scenario"):
        table_rows(board, scenario="nope@v1")


def test_site_pages_tables_and_plots(lb: Path, tmp_path: Path) -> None:
    index = build_site(lb, tmp_path / "site")
    site = index.parent
    html = index.read_text()
    assert 'href="digits.html"' in html and 'href="opportunity.html"' in html
    page = (site / "digits.html").read_text()
    assert page.count('<table class="sortable"') == 2  # one per scenario
    assert len(re.findall(r"<tr data-group=[^>]*><td", page)) == 6
    imgs = re.findall(r'<img src="([^"]+)"', page)
    assert imgs == ["plots/digits--digit--n_available.svg", "plots/digits--digit--missing_rate.svg"]
    for src in imgs:
        assert (site / src).read_bytes().startswith(b"<?xml")
    opp = (site / "opportunity.html").read_text()
    assert 'class="sortable reported"' in opp and "opportunity--locomotion--missing_rate.svg" in opp
    for f in site.glob("*.html"):
        assert not re.search(r'(src|href)="(https?:)?//', f.read_text().replace('href="https://example.org', "")), f
    # rebuilding over an earlier site works; over a foreign folder it refuses
    assert build_site(lb, site) == index
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(ModalbenchError, match="not an earlier leaderboard site"):
        build_site(lb, other)
    assert (other / "keep.txt").read_text() == "mine"


def test_plots_are_deterministic_and_mark_reported_points(lb: Path, tmp_path: Path) -> None:
    from modalbench.leaderboard.plots import curve_series, render_curve

    board = build_leaderboard(lb)
    a = render_curve(board, "digits", "digit", "n_available", tmp_path / "a.svg")
    b = render_curve(board, "digits", "digit", "n_available", tmp_path / "b.svg")
    assert a is not None and b is not None and a.read_bytes() == b.read_bytes()
    lines, points = curve_series(board, "digits", "digit", "n_available")
    assert [ln["x"] for ln in lines] == [[1, 2]] * 3 and points == []
    # the rate plot leaves out the modality-subset scenario and keeps random-missing
    lines, _ = curve_series(board, "digits", "digit", "missing_rate")
    assert len(lines) == 3 and all(len(ln["x"]) == 9 for ln in lines)
    lines, points = curve_series(board, "opportunity", "locomotion", "missing_rate")
    assert lines == [] and sorted({p["x"] for p in points}) == [0.0, 0.8] and len(points) == 12
    assert render_curve(board, "baum-1a", "emotion", "n_available", tmp_path / "none.svg") is None


def test_cli_submit_leaderboard_and_build(lb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(make_result(model="mul", rng_seed=5)))
    assert main(["submit", str(good), "--leaderboard", str(lb)]) == 0
    assert "accepted (ranked)" in capsys.readouterr().out

    bad = make_result(model="mul2")
    bad["dataset"]["fingerprint"] = "0" * 64
    bad["scenarios"][0]["conditions"][0]["metrics"]["accuracy"][0] = 3.0
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    before = (lb / "leaderboard.json").read_bytes()
    assert main(["submit", str(tmp_path / "bad.json"), "--leaderboard", str(lb)]) == 2
    err = capsys.readouterr().err
    assert "dataset.fingerprint" in err and "outside [0, 1]" in err and "maximum of 1" in err
    assert (lb / "leaderboard.json").read_bytes() == before

    assert main(["submit", str(good), "--leaderboard", str(lb)]) == 2 and "--replace" in capsys.readouterr().err
    assert main(["submit", str(good), "--leaderboard", str(lb), "--replace"]) == 0
    capsys.readouterr()

    assert main(["leaderboard", "--dataset", "digits", "--scenario", MM, "--json", "--leaderboard", str(lb)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and {r["model"] for r in rows} == {"early", "late", "mul", "embracenet"}
    ranked = [r for r in rows if r["rank"] is not None]
    assert [r["rank"] for r in ranked] == sorted(r["rank"] for r in ranked) and rows[-1]["model"] == "embracenet"
    assert [r["mean"] for r in ranked] == sorted((r["mean"] for r in ranked), reverse=True)

    assert main(["leaderboard", "--leaderboard", str(lb), "--dataset", "nope"]) == 2

    assert main(["leaderboard", "--leaderboard", str(lb), "build", "--out", str(tmp_path / "s")]) == 0
    assert Path(capsys.readouterr().out.strip()) == tmp_path / "s" / "index.html"
    assert (tmp_path / "s" / "digits.html").exists()


def test_default_leaderboard_dir_is_the_users_own(tmp_path: Path) -> None:
    from modalbench.app.board import leaderboard_dir
    from modalbench.app.cli import build_parser
    from modalbench.leaderboard.board import DEFAULT_DIR

    args = build_parser().parse_args(["leaderboard", "--json", "--root", str(tmp_path)])
    assert args.leaderboard is None
    assert leaderboard_dir(args) == tmp_path / "leaderboard" != DEFAULT_DIR
    args = build_parser().parse_args(["submit", "r.json", "--root", str(tmp_path), "--leaderboard", str(DEFAULT_DIR)])
    assert leaderboard_dir(args) == DEFAULT_DIR and (DEFAULT_DIR / "leaderboard.json").exists()


def test_missing_index_is_built_in_memory(lb: Path) -> None:
    (lb / "leaderboard.json").unlink()
    from modalbench.leaderboard.board import load_leaderboard

    assert len(load_leaderboard(lb)["entries"]) == 3
    rebuild_leaderboard(lb)
    assert (lb / "leaderboard.json").exists()
