"""Strict JSON reading: duplicate keys, NaN, non-regular and oversized files are one clear error."""

from __future__ import annotations

import os

import pytest

from modalbench.errors import ModalbenchError
from modalbench.jsonio import loads_json, read_json


def test_duplicate_key_names_the_file_and_the_key(tmp_path) -> None:
    path = tmp_path / "results.json"
    path.write_text('{"regime": "full-modality", "seeds": [0], "regime": "modality-dropout"}')
    with pytest.raises(ModalbenchError) as err:
        read_json(path)
    msg = str(err.value)
    assert str(path) in msg and "'regime'" in msg and "duplicate" in msg and "\n" not in msg


def test_duplicate_key_in_a_nested_object() -> None:
    with pytest.raises(ModalbenchError, match=r"^manifest: duplicate key 'id'"):
        loads_json('{"conditions": [{"id": "a", "id": "b"}]}', source="manifest")
    assert loads_json('{"a": {"id": 1}, "b": {"id": 2}}') == {"a": {"id": 1}, "b": {"id": 2}}


@pytest.mark.parametrize("text", ['{"x": NaN}', '{"x": Infinity}', "[-Infinity]"])
def test_nan_and_infinity_are_not_json(text: str) -> None:
    with pytest.raises(ModalbenchError, match="not valid JSON"):
        loads_json(text, source="f.json")


def test_invalid_json_names_line_and_column(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "a": 1,\n  "b": \n}')
    with pytest.raises(ModalbenchError, match=r"bad.json: line 4 column 1: invalid JSON"):
        read_json(path)


def test_non_utf8_is_named(tmp_path) -> None:
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(ModalbenchError, match="not UTF-8"):
        read_json(path)


def test_non_regular_files_are_refused_without_blocking(tmp_path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # reading a FIFO with no writer would block forever
    with pytest.raises(ModalbenchError, match="not a regular file"):
        read_json(fifo)
    with pytest.raises(ModalbenchError, match="not a regular file"):
        read_json(tmp_path)
    with pytest.raises(ModalbenchError, match="file not found"):
        read_json(tmp_path / "missing.json")


def test_size_limit(tmp_path) -> None:
    path = tmp_path / "big.json"
    path.write_text("[" + ",".join(["1"] * 1000) + "]")
    assert len(read_json(path)) == 1000
    with pytest.raises(ModalbenchError, match="larger than the 100-byte limit"):
        read_json(path, max_bytes=100)


def test_nan_can_be_let_through_for_readers_that_name_the_field() -> None:
    import math

    assert math.isnan(loads_json('{"x": NaN}', allow_nan=True)["x"])
    with pytest.raises(ModalbenchError, match="duplicate key"):
        loads_json('{"x": NaN, "x": 1}', allow_nan=True)
