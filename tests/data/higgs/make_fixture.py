"""Generate ``HIGGS.csv.gz``: 3,000 rows in the exact UCI format (29 comma-separated fields, ``%.18e``, no header).

Values are seeded random float32 numbers; the label depends on the features (signal events have larger
high-level masses), so a model can learn it. Run ``python tests/data/higgs/make_fixture.py`` to regenerate
(gzip header mtime 0: byte-identical output).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np

ROWS = 2000
HERE = Path(__file__).resolve().parent


def make_rows(rows: int, seed: int = 0) -> np.ndarray:
    """``(rows, 29)`` float32: label, 21 low-level, 7 high-level features."""
    rng = np.random.Generator(np.random.PCG64(seed))
    label = rng.integers(0, 2, rows).astype(np.float32)
    low = rng.normal(0.0, 1.0, (rows, 21)).astype(np.float32)
    low[:, [8, 12, 16, 20]] = rng.choice([0.0, 1.0868, 2.1735], (rows, 4)).astype(np.float32)  # b-tags
    high = (rng.gamma(2.0, 0.5, (rows, 7)) + 0.8 * label[:, None]).astype(np.float32)
    low[:, 0] += 0.5 * label
    return np.concatenate([label[:, None], low, high], axis=1)


def higgs_text(table: np.ndarray) -> bytes:
    """The rows as HIGGS.csv text (``%.18e``, comma-separated, LF)."""
    buf = io.StringIO()
    np.savetxt(buf, table.astype(np.float64), fmt="%.18e", delimiter=",")
    return buf.getvalue().encode()


def gzip_bytes(text: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="HIGGS.csv", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(text)
    return out.getvalue()


if __name__ == "__main__":
    (HERE / "HIGGS.csv.gz").write_bytes(gzip_bytes(higgs_text(make_rows(ROWS))))
