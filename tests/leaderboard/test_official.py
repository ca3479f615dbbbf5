"""official.json reading: strict JSON (duplicate keys and NaN refused in one line naming the file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modalbench.errors import ModalbenchError
from modalbench.leaderboard.official import load_official, register_official

FP = "a" * 64


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (
            '{"datasets": {"digits@v1": {"fingerprint": "' + FP + '"}, "digits@v1": {"fingerprint": "' + FP + '"}}, '
            '"scenarios": {}}',
            "duplicate key 'digits@v1'",
        ),
        ('{"datasets": {}, "scenarios": {}, "weight": NaN}', "NaN"),
        ('{"datasets": {}, "scenarios": {', "line 1 column"),
    ],
)
def test_official_json_is_read_strictly(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "official.json"
    path.write_text(text)
    with pytest.raises(ModalbenchError, match=pattern) as ei:
        load_official(path)
    assert "\n" not in str(ei.value) and str(ei.value).startswith(str(path))


def test_missing_official_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModalbenchError, match="official values file not found"):
        load_official(tmp_path / "none.json")
    register_official("digits", "v1", FP, {"full@v1": (0, "c" * 64, 1)}, path=tmp_path / "none.json")
    assert load_official(tmp_path / "none.json")["datasets"] == {"digits@v1": {"fingerprint": FP}}
