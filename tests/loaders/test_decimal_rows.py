"""The C fast path for decimal rows (``loaders/_decimal_rows.c``): the float32 nearest to each decimal, the same values
as polars, and a decline (never a wrong value) for anything outside its plain syntax."""

from __future__ import annotations

import importlib.util
import shutil
import struct
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import DATA_DIR
from modalbench.errors import ModalbenchError
from modalbench.loaders import higgs as hg

_spec = importlib.util.spec_from_file_location("higgs_fixture", DATA_DIR / "higgs" / "make_fixture.py")
fx = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(fx)  # type: ignore[union-attr]

needs_fast_path = pytest.mark.skipif(hg._decimal_rows is None, reason="the C extension is not built (no compiler)")


def row(values: list[str]) -> bytes:
    """One HIGGS-shaped line: a label then 28 fields, ``values`` first and ``1`` for the rest."""
    fields = ["1", *values, *["1"] * (28 - len(values))]
    return (",".join(fields) + "\n").encode()


def test_the_extension_is_built_where_a_compiler_is():
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on this machine: modalbench parses HIGGS with polars")
    assert hg._decimal_rows is not None, "pip install -e . should have built modalbench.loaders._decimal_rows"


@needs_fast_path
def test_higgs_text_parses_to_the_polars_values():
    text = fx.higgs_text(fx.make_rows(3000, seed=7))
    fast = hg.parse_plain(text)
    assert fast is not None and fast.shape == (3000, 29) and fast.dtype == np.float32
    np.testing.assert_array_equal(fast, hg._parse_csv_polars(text, "x", 1))
    np.testing.assert_array_equal(fast, np.loadtxt(text.decode().splitlines(), delimiter=",").astype(np.float32))


@needs_fast_path
def test_real_first_line_takes_the_fast_path(shared_dir):
    text = (shared_dir / "formats" / "higgs" / "HIGGS.head1.csv").read_bytes()
    fast = hg.parse_plain(text if text.endswith(b"\n") else text + b"\n")
    assert fast is not None and fast[0, 1] == np.float32(0.869293212890625)


@needs_fast_path
@given(
    st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=28, max_size=28),
    st.sampled_from(["%.18e", "%.9g", "%.12f", "%r", "%.3e", "%.17g"]),
)
def test_any_plain_decimal_gives_the_polars_float32_or_a_decline(values, fmt):
    text = row([fmt % v for v in values])
    fast = hg.parse_plain(text)
    slow = hg._parse_csv_polars(text, "x", 1)
    if fast is not None:
        assert fast.tobytes() == slow.tobytes()  # -0.0 and 0.0 told apart too
    if fmt == "%.18e" and all(v == 0 or 1.2e-38 <= abs(v) for v in values):
        assert fast is not None  # HIGGS's own format is never declined (normal floats)


def next_float32(x: float) -> float:
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    return float(struct.unpack("<f", struct.pack("<I", bits + 1))[0])


def nearest_float32(decimal: str) -> np.float32:
    """The float32 nearest to ``decimal``, decided in exact rational arithmetic (ties to even)."""
    if decimal.startswith("-"):
        return -nearest_float32(decimal[1:])
    d = Fraction(decimal)
    lo = float(np.float32(float(d)))
    lo = lo if Fraction(lo) <= d else float(np.nextafter(np.float32(lo), np.float32(-np.inf)))
    hi = next_float32(lo)
    mid = (Fraction(lo) + Fraction(hi)) / 2
    if d != mid:
        return np.float32(hi if d > mid else lo)
    return np.float32(lo if struct.unpack("<I", struct.pack("<f", lo))[0] % 2 == 0 else hi)


@needs_fast_path
@pytest.mark.parametrize("value", [1.0, 0.869293212890625, 1234.5, 3.0e-30, -7.25e12])
@pytest.mark.parametrize("digits", [17, 18])
def test_a_decimal_at_a_float32_midpoint_is_declined_and_rounded_exactly_by_polars(value, digits):
    x = float(np.float32(value))
    decimal = f"{(x + next_float32(abs(x)) * np.sign(x)) / 2:.{digits}e}"  # the midpoint (exact in float64), rounded to 18-19 digits
    text = row([decimal])
    assert hg.parse_plain(text) is None  # too close to call in double precision
    assert hg.parse_block(text, where="x")[0, 1] == nearest_float32(decimal)  # polars: correctly rounded


@needs_fast_path
@pytest.mark.parametrize(
    "field",
    [
        " 2",  # whitespace
        "",  # empty field
        "+2",  # explicit plus sign
        "nan",
        "inf",
        "1e400",  # overflows float32
        "1e-45",  # float32 subnormal
        "1.2345678901234567890",  # 20 significant digits
        "0x10",
        "1.5e",
        "1_000",
    ],
)
def test_fields_outside_the_plain_syntax_are_declined(field):
    assert hg.parse_plain(row([field])) is None


@needs_fast_path
@pytest.mark.parametrize("text", [b"1,2\n", row([]) + b"\n", row([]).replace(b"\n", b",1\n"), b"\n"])
def test_wrong_field_counts_and_empty_lines_are_declined(text):
    assert hg.parse_plain(text) is None


@needs_fast_path
def test_crlf_and_a_missing_last_newline_are_read():
    lines = fx.higgs_text(fx.make_rows(5, seed=1)).splitlines()
    crlf = hg.parse_plain(b"\r\n".join(lines) + b"\r\n")
    lf = hg.parse_plain(b"\n".join(lines) + b"\n")
    assert crlf is not None and lf is not None and np.array_equal(crlf, lf)


@needs_fast_path
def test_declined_values_still_parse_and_bad_ones_still_name_the_line():
    ok = hg.parse_block(row(["1e-45", " 2"]), where="x")  # declined by the fast path, read by polars
    assert ok[0, 1] == np.float32(1e-45) and ok[0, 2] == 2
    with pytest.raises(ModalbenchError, match=r"x line 3 field 2: 'abc' is not a number"):
        hg.parse_block(row([]) * 2 + row(["abc"]), where="x")
    with pytest.raises(ModalbenchError, match=r"x line 1: a feature is not a finite number"):
        hg.parse_block(row(["nan"]), where="x")


def test_without_the_extension_every_block_goes_through_polars(monkeypatch, tmp_path):
    monkeypatch.setattr(hg, "_decimal_rows", None)
    text = fx.higgs_text(fx.make_rows(200, seed=3))
    assert hg.parse_plain(text) is None
    np.testing.assert_array_equal(
        hg.parse_block(text, where="x"), np.loadtxt(text.decode().splitlines(), delimiter=",").astype(np.float32)
    )


@needs_fast_path
def test_parse_into_refuses_a_wrong_output_buffer():
    with pytest.raises(ValueError, match="float32 buffer of whole rows"):
        hg._decimal_rows.parse_into(b"1,2\n", np.zeros((1, 2), dtype=np.float64), 2)
    with pytest.raises(ValueError, match="float32 buffer of whole rows"):
        hg._decimal_rows.parse_into(b"1,2\n", np.zeros(3, dtype=np.float32), 2)
    out = np.zeros((1, 2), dtype=np.float32)
    assert hg._decimal_rows.parse_into(b"1,2\n3,4\n", out, 2) == -1  # more rows than room: declined, not overrun
