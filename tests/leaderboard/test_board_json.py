"""The leaderboard reads result files strictly: a duplicated key is refused, not resolved to the last value."""

from __future__ import annotations

import pytest

from modalbench.errors import ModalbenchError
from modalbench.leaderboard.board import read_json


def test_result_with_regime_twice_is_refused(tmp_path) -> None:
    path = tmp_path / "results.json"
    path.write_text('{"schema_version": 1, "regime": "full-modality", "regime": "modality-dropout"}')
    with pytest.raises(ModalbenchError, match=r"results\.json: duplicate key 'regime'"):
        read_json(path)
