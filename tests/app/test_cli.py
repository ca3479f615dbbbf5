"""The CLI end to end through subprocesses."""

import json
import os
import subprocess
import sys

import xarray as xr
from modalbench.store import with_window_variables


def run(*args, root=None, check=True):
    env = dict(os.environ)
    if root is not None:
        env["MODALBENCH_HOME"] = str(root)
    proc = subprocess.run([sys.executable, "-m", "modalbench", *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_prepare_info_datasets(tmp_path):
    p = run("prepare", "digits", "--quiet", root=tmp_path)
    assert "store:" in p.stdout
    info = json.loads(run("info", "digits", "--json", root=tmp_path).stdout)
    assert [m["name"] for m in info["modalities"]] == ["left", "right"]
    assert sum(info["n_samples"].values()) == 1797 and set(info["n_samples"]) == {"train", "val", "test"}
    assert len(info["fingerprint"]) == 64
    ds = with_window_variables(xr.open_zarr(info["path"], consolidated=False))
    assert {"left", "right", "label", "split", "available"} <= set(ds.data_vars)
    rows = json.loads(run("datasets", "--json", root=tmp_path).stdout)
    by_name = {r["name"]: r for r in rows}
    assert by_name["digits"]["prepared"] is True and by_name["synthetic"]["prepared"] is False
    assert by_name["digits"]["n_modalities"] == 2 and by_name["digits"]["n_classes"] == 10
    # --root beats MODALBENCH_HOME
    other = tmp_path / "other"
    rows = json.loads(run("datasets", "--json", "--root", str(other), root=tmp_path).stdout)
    assert {r["name"]: r for r in rows}["digits"]["prepared"] is False


def test_user_errors_exit_2_with_one_clear_line(tmp_path):
    p = run("prepare", "digts", root=tmp_path, check=False)
    assert p.returncode == 2
    assert "did you mean 'digits'" in p.stderr and "Traceback" not in p.stderr
    p = run("info", "digits", root=tmp_path, check=False)
    assert p.returncode == 2 and "modalbench prepare digits" in p.stderr
    p = run("prepare", "digits", "--workers", "0", root=tmp_path, check=False)
    assert p.returncode == 2 and "--workers" in p.stderr
    p = run("prepare", "digits", "--set", "nosuch=1", root=tmp_path, check=False)
    assert p.returncode == 2 and "unknown parameter 'nosuch'" in p.stderr
    p = run("--verbose", "prepare", "digts", root=tmp_path, check=False)
    assert "Traceback" in p.stderr
