"""prepare under concurrency, --force and failing writes: one lock per dataset version, scenarios kept when the
data fingerprint is unchanged, one-line errors and no half-written directory."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modalbench.checksums import verify_store
from modalbench.errors import ModalbenchError, StoreError
from modalbench.preprocess import pipeline
from modalbench.preprocess.pipeline import prepare
from modalbench.scenarios import generate_scenarios, load_scenario
from modalbench.store import locate, open_store

SLOW_PREPARE = textwrap.dedent("""
    import json, sys, time
    from modalbench.preprocess import pipeline
    real = pipeline.write_store
    def slow(ds, path, progress=True, **kw):
        time.sleep(1.5)  # hold the store half-written long enough for the other run to arrive
        real(ds, path, progress=progress, **kw)
    pipeline.write_store = slow
    res = pipeline.prepare("digits", root=sys.argv[1], progress=False, force=sys.argv[2] == "force")
    print(json.dumps({"skipped": res.skipped, "fingerprint": res.attrs["fingerprint"]}))
""")


def _run_two(root: Path, mode: str) -> list[subprocess.CompletedProcess[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SLOW_PREPARE, str(root), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=240)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


@pytest.mark.timeout(300)
def test_two_concurrent_prepares_leave_one_complete_store(tmp_path: Path) -> None:
    runs = _run_two(tmp_path, "plain")
    assert [r.returncode for r in runs] == [0, 0], [r.stderr[-2000:] for r in runs]
    results = [json.loads(r.stdout.strip().splitlines()[-1]) for r in runs]
    assert sorted(r["skipped"] for r in results) == [False, True], "the second run waits, then finds the store"
    assert sum("is running" in r.stderr and "waiting" in r.stderr for r in runs) == 1
    assert verify_store(tmp_path, "digits").ok
    assert open_store("digits", root=tmp_path)["left"].shape == (1797, 1, 8, 4)
    assert not (tmp_path / "digits" / "v1.incomplete").exists()


@pytest.mark.timeout(300)
def test_two_concurrent_forced_prepares_each_write_a_whole_store(tmp_path: Path) -> None:
    prepare("digits", root=tmp_path, progress=False)
    runs = _run_two(tmp_path, "force")
    assert [r.returncode for r in runs] == [0, 0], [r.stderr[-2000:] for r in runs]
    marker = json.loads((tmp_path / "digits" / "v1" / "COMPLETE").read_text())
    assert marker["run_id"] and marker["checksums_sha256"]
    assert verify_store(tmp_path, "digits").ok


def test_second_prepare_gives_up_after_its_timeout(tmp_path: Path) -> None:
    from modalbench.locks import dataset_lock

    messages: list[str] = []
    with dataset_lock(tmp_path, "digits", "v1"):
        code = (
            "import sys\nfrom modalbench.preprocess.pipeline import prepare\n"
            "prepare('digits', root=sys.argv[1], progress=False, lock_timeout=0.5)\n"
        )
        proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
        messages.append(proc.stderr)
    assert proc.returncode != 0
    assert "waiting" in messages[0] and "still holds" in messages[0]
    assert not (tmp_path / "digits" / "v1").exists()


def test_force_keeps_scenarios_when_the_fingerprint_is_unchanged(tmp_path: Path) -> None:
    prepare("digits", root=tmp_path, progress=False)
    made = generate_scenarios(tmp_path, "digits", seed=0)
    shas = {r.scenario_id: r.sha256 for r in made if hasattr(r, "sha256")}
    res = prepare("digits", root=tmp_path, force=True, progress=False)
    assert not res.skipped and res.removed_scenarios == []
    assert res.kept_scenarios == ["full@v1/seed-0", "missing-modalities@v2/seed-0", "random-missing@v1/seed-0"]
    for sid, sha in shas.items():
        assert load_scenario(tmp_path, "digits", sid, 0).sha256 == sha
    again = generate_scenarios(tmp_path, "digits", seed=0)
    assert {r.status for r in again if hasattr(r, "status")} == {"exists"}


def test_force_with_new_data_removes_scenarios_and_says_which(tmp_path: Path) -> None:
    prepare("digits", root=tmp_path, progress=False)
    generate_scenarios(tmp_path, "digits", ["full", "missing-modalities"], seed=0)
    generate_scenarios(tmp_path, "digits", ["full"], seed=1, split="val")
    res = prepare("digits", root=tmp_path, overrides={"split.seed": 5}, force=True, progress=False)
    assert res.removed_scenarios == ["full@v1/seed-0", "full@v1/seed-1-val", "missing-modalities@v2/seed-0"]
    assert res.kept_scenarios == []
    assert not (tmp_path / "digits" / "v1" / "scenarios").exists()


def test_path_under_a_regular_file_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError) as err:
        prepare("digits", root=blocker / "root", progress=False)
    msg = str(err.value)
    assert "\n" not in msg and "Not a directory" in msg and "ENOTDIR" in msg and str(blocker) in msg


def test_full_disk_during_the_write_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    real = pipeline.write_store

    def fills_the_disk(ds, path, progress=True, **kw):
        real(ds, path, progress=progress, **kw)  # most of the store is on disk ...
        raise OSError(errno.ENOSPC, "No space left on device", str(path / "label" / "c" / "0"))

    monkeypatch.setattr(pipeline, "write_store", fills_the_disk)
    with pytest.raises(StoreError) as err:
        prepare("digits", root=tmp_path, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and "No space left on device" in msg and "ENOSPC" in msg and "label" in msg
    assert sorted(p.name for p in (tmp_path / "digits").iterdir() if p.name != "raw") == [".v1.lock"]
    with pytest.raises(StoreError, match="not prepared"):
        locate(tmp_path, "digits")


def test_full_disk_while_writing_the_checksums(tmp_path: Path, monkeypatch) -> None:
    def no_space(version_dir):
        raise OSError(errno.ENOSPC, "No space left on device", str(version_dir / "checksums.json"))

    monkeypatch.setattr(pipeline, "write_checksums", no_space)
    with pytest.raises(ModalbenchError, match="checksums.json: No space left on device"):
        prepare("digits", root=tmp_path, progress=False)
    assert not (tmp_path / "digits" / "v1.incomplete").exists() and not (tmp_path / "digits" / "v1").exists()


def test_damaged_marker_is_named_and_force_replaces_it(tmp_path: Path) -> None:
    prepare("digits", root=tmp_path, progress=False)
    marker = tmp_path / "digits" / "v1" / "COMPLETE"
    text = marker.read_text()
    marker.write_text(text.replace('"dataset": "digits",', '"dataset": "digits", "dataset": "other",'))
    with pytest.raises(StoreError, match="COMPLETE: duplicate key 'dataset'.*--force"):
        open_store("digits", root=tmp_path)
    with pytest.raises(StoreError, match="duplicate key"):
        prepare("digits", root=tmp_path, progress=False)
    assert not prepare("digits", root=tmp_path, force=True, progress=False).skipped
    assert open_store("digits", root=tmp_path).attrs["dataset"] == "digits"
