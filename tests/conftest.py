"""Shared fixtures: an isolated data root and session-wide prepared stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

#: property tests draw the same examples on every run and machine: a CI result never depends on luck
settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

#: fixtures shared by several test packages (``http_server``: a local HTTP server for download tests)
pytest_plugins = ["helpers.httpserver"]

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Never write to the user's cache: MODALBENCH_HOME points into pytest's temp dir."""
    os.environ["MODALBENCH_HOME"] = str(tmp_path_factory.mktemp("modalbench-home"))


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """The test models are tiny: intra-op threads only add contention on a 2-core machine."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (read-only real data); tests using it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (real-format excerpts are only on development machines and in CI)")
    return SHARED


@pytest.fixture(scope="session")
def digits_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with ``digits`` prepared (default parameters)."""
    from modalbench.preprocess.pipeline import prepare

    root = tmp_path_factory.mktemp("digits-root")
    prepare("digits", root=root, progress=False)
    return root


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with the default 8-modality ``synthetic`` store prepared."""
    from modalbench.preprocess.pipeline import prepare

    root = tmp_path_factory.mktemp("synthetic-root")
    prepare("synthetic", root=root, progress=False)
    return root
