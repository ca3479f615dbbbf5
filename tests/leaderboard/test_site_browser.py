"""The static site in a real headless Chromium (Playwright): no console errors, expected rows, sorting, images.

Needs Debian's ``chromium`` at /usr/bin/chromium: skipped when it is absent, except under ``CI`` (then it fails;
``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modalbench.atomic import write_json_atomic
from modalbench.leaderboard.example import make_result, official_for
from modalbench.leaderboard.site import build_site
from modalbench.leaderboard.submit import submit

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
MODELS = [("early", (0, 1, 2), 0.6), ("late", (0, 1, 2), 0.9), ("embracenet", (0, 1), 0.95)]


def _require_browser() -> Any:
    ci = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
    if not CHROMIUM.exists():
        msg = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if ci:
            pytest.fail(msg + "; under CI the browser test must run")
        pytest.skip(msg)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - playwright is a dev dependency
        if ci:
            pytest.fail(f"playwright is not installed: {exc}")
        pytest.skip(f"playwright is not installed: {exc}")
    return sync_playwright


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("lb-site")
    lb = tmp / "lb"
    lb.mkdir()
    write_json_atomic(lb / "official.json", official_for(make_result()))
    for i, (model, seeds, skill) in enumerate(MODELS):
        p = tmp / f"{model}.json"
        p.write_text(json.dumps(make_result(model=model, seeds=seeds, skill=skill, rng_seed=i)))
        submit(p, lb)
    return build_site(lb, tmp / "site").parent


@pytest.fixture(scope="module")
def browser(site: Path) -> Iterator[Any]:
    sync_playwright = _require_browser()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _open(browser: Any, url: str) -> tuple[Any, list[str]]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    page.goto(url, wait_until="load")
    return page, errors


def _images(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("""() => Array.from(document.images).map(i => (
        {src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth}))""")


def _column(page: Any, table: str, idx: int) -> list[str]:
    return page.eval_on_selector_all(f"{table} tbody tr", f"rows => rows.map(r => r.cells[{idx}].textContent)")


def test_index_lists_datasets_without_errors(browser: Any, site: Path) -> None:
    page, errors = _open(browser, (site / "index.html").as_uri())
    assert page.title() == "modalbench leaderboard"
    datasets = _column(page, "table#datasets", 0)
    assert "digits" in datasets and "opportunity" in datasets and "mm-imdb" in datasets
    page.click("table#datasets a[href='digits.html']")
    page.wait_for_load_state("load")
    assert page.url.endswith("/digits.html")
    assert errors == []
    page.close()


def test_dataset_page_rows_sorting_and_plots(browser: Any, site: Path) -> None:
    page, errors = _open(browser, (site / "digits.html").as_uri())
    table = "table#t-digits--digit-missing-modalities_v1"
    assert sorted(_column(page, table, 1)) == ["early", "embracenet", "late"]
    assert _column(page, table, 0) == ["1", "2", "unranked"]  # rank order as built

    page.click(f"{table} thead th:nth-child(2)")  # Model, ascending
    assert _column(page, table, 1) == ["early", "embracenet", "late"]
    page.click(f"{table} thead th:nth-child(2)")  # Model, descending
    assert _column(page, table, 1) == ["late", "embracenet", "early"]
    page.click(f"{table} thead th:nth-child(4)")  # f1_weighted ascending
    scores = [float(s.split(" ")[0]) for s in _column(page, table, 3)]
    assert scores == sorted(scores) and _column(page, table, 1)[0] == "early"
    assert page.get_attribute(f"{table} thead th:nth-child(4)", "aria-sort") == "ascending"

    imgs = _images(page)
    assert [i["src"] for i in imgs] == ["plots/digits--digit--n_available.svg", "plots/digits--digit--missing_rate.svg"]
    assert all(i["complete"] and i["width"] > 0 for i in imgs), imgs
    assert errors == []
    page.close()


def test_reported_rows_page(browser: Any, site: Path) -> None:
    page, errors = _open(browser, (site / "opportunity.html").as_uri())
    table = "table#r-opportunity--locomotion"
    methods = _column(page, table, 0)
    assert len(methods) == 24 and "embracenet" in methods
    page.click(f"{table} thead th:nth-child(4)")  # Value ascending
    values = [float(v) for v in _column(page, table, 3)]
    assert values == sorted(values)
    imgs = _images(page)
    assert len(imgs) == 4 and all(i["complete"] and i["width"] > 0 for i in imgs), imgs
    assert errors == []
    page.close()


def test_missing_browser_skips_locally_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(globals(), "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        _require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI"):
        _require_browser()


def test_group_filter_shows_one_ranking_group_at_a_time(browser: Any, tmp_path: Path) -> None:
    lb = tmp_path / "lb"
    lb.mkdir()
    write_json_atomic(lb / "official.json", official_for(make_result()))
    for i, (model, fill) in enumerate([("early", None), ("late", None), ("zeroed", "zero")]):
        p = tmp_path / f"{model}.json"
        p.write_text(json.dumps(make_result(model=model, rng_seed=i, fill=fill)))
        submit(p, lb)
    site = build_site(lb, tmp_path / "site").parent
    page, errors = _open(browser, (site / "digits.html").as_uri())
    table = "table#t-digits--digit-missing-modalities_v1"
    visible = "rows => rows.filter(r => !r.hidden).map(r => r.cells[1].textContent)"
    assert sorted(page.eval_on_selector_all(f"{table} tbody tr", visible)) == ["early", "late"]  # the larger group
    assert _column(page, table, 0).count("1") == 2  # each group has its own rank 1
    select = f"select[data-table='{table.split('#')[1]}']"
    page.select_option(select, "missing-modalities@v1 · fill zero · full-modality")
    assert page.eval_on_selector_all(f"{table} tbody tr", visible) == ["zeroed"]
    page.select_option(select, "")
    assert len(page.eval_on_selector_all(f"{table} tbody tr", visible)) == 3


CROWD = 16  # more entries than matplotlib's 10 default colours


@pytest.fixture(scope="module")
def crowded_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 entries on digits; entry 0 has a paper (re-implementation), the others are new methods without links."""
    tmp = tmp_path_factory.mktemp("lb-crowded")
    lb = tmp / "lb"
    lb.mkdir()
    write_json_atomic(lb / "official.json", official_for(make_result()))
    for i in range(CROWD):
        result = make_result(model=f"model{i:02d}", skill=0.5 + 0.03 * i, rng_seed=i)
        result["model"]["code_url"] = None
        result["model"]["paper"] = "Choi & Lee 2019" if i == 0 else None
        p = tmp / f"model{i:02d}.json"
        p.write_text(json.dumps(result))
        submit(p, lb)
    return build_site(lb, tmp / "site").parent


def test_crowded_plot_one_line_per_model_legend_outside(browser: Any, crowded_site: Path) -> None:
    from modalbench.leaderboard.plots import line_style

    styles = {(s["color"], s["linestyle"]) for s in map(line_style, range(CROWD))}
    assert len(styles) == CROWD  # beyond 10 entries the dash pattern changes
    page, errors = _open(browser, (crowded_site / "plots" / "digits--digit--n_available.svg").as_uri())
    assert page.eval_on_selector_all("g[id^='curve-']", "els => els.length") == CROWD  # once per model
    box = page.evaluate("""() => {
        const r = id => document.getElementById(id).getBoundingClientRect();
        const svg = document.documentElement.getBoundingClientRect();
        return {legend: r('legend').toJSON(), axes: r('axes-area').toJSON(), svg: svg.toJSON()}; }""")
    assert box["legend"]["left"] >= box["axes"]["right"]  # the legend covers no data
    assert box["legend"]["right"] <= box["svg"]["right"] + 0.5  # and is not clipped by the figure
    assert box["legend"]["bottom"] <= box["svg"]["bottom"] + 0.5
    assert errors == []
    page.close()

    page, errors = _open(browser, (crowded_site / "digits.html").as_uri())
    table = "table#t-digits--digit-missing-modalities_v1"
    headers = page.eval_on_selector_all(f"{table} thead th", "ths => ths.map(t => t.textContent)")
    assert "Link" not in headers and "Code" not in headers  # no entry has a code link: no empty column
    impl = dict(zip(_column(page, table, 1), _column(page, table, headers.index("Implementation"))))
    assert impl["model00"] == "re-implementation" and impl["model07"] == "new method"
    assert errors == []
    page.close()
