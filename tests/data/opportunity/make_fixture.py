"""Generate the tiny OPPORTUNITY fixture ``OpportunityUCIDataset.zip`` (SYNTHETIC values, real layout).

Run from the repository root: ``.venv/bin/python tests/data/opportunity/make_fixture.py [DIR_WITH_column_names.txt]``
(default ``../shared/formats/opportunity``). The real ``column_names.txt`` is parsed and must give the committed
mapping (:func:`modalbench.loaders.opportunity_columns.check_column_names`) and the synthetic layout; it is NOT
copied into the fixture. Members: ``OpportunityUCIDataset/dataset/S{1..4}-{ADL1..5,Drill}.dat``, 250
space-separated columns, labels in the real id space, ``NaN`` for missing values.

Hand-made content the tests rely on (rows are 0-based):

* rows: ADL3/ADL4/ADL5 files have :data:`EVAL_ROWS` (23) rows, all other files :data:`TRAIN_ROWS` (20);
* column 2 (``acc_rkn_upper`` accX) is ``10·i`` in row ``i`` of every train-split file (challenge split) and 5000 in
  every other file, so the train min/max of that channel are 0 and 220 (S1-ADL3..5 are train files with 23 rows);
* ``S1-ADL2.dat`` row 0: every sensor column ``c`` in 3..243 holds ``10·c`` (channel-mapping check);
* ``S1-ADL1.dat``: locomotion (col 244) raw 1 in rows 0–9, raw 5 in rows 10–19; gestures (col 250) raw 0 in rows
  0–5, 406516 in rows 6–13, 405506 in rows 14–19;
* ``S2-ADL3.dat``: ``acc_hip`` (cols 5–7) NaN in rows 0–20, and ``acc_lh`` (cols 14–16) NaN in row 3 only;
* ``S3-ADL1.dat`` has CRLF line ends; the others LF.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/ (for helpers)
from modalbench.loaders import opportunity_columns as oc
from modalbench.loaders.opportunity import MEMBER_DIR, SESSIONS, challenge_split
from helpers.opportunity_synth import LAYOUT, format_table, layout_from_column_names, synth_table

HERE = Path(__file__).resolve().parent
OUT = HERE / "OpportunityUCIDataset.zip"
TRAIN_ROWS = 20
EVAL_ROWS = 23
SEED = 20240611


def rows_of(session: str) -> int:
    return EVAL_ROWS if session in ("ADL3", "ADL4", "ADL5") else TRAIN_ROWS


def make_table(subject: int, session: str) -> np.ndarray:
    n = rows_of(session)
    a = synth_table(n, seed=SEED + 10 * subject + SESSIONS.index(session), nan_rate=0.02)
    # object, ambient and location sensors: mostly missing, like many real sessions (and it keeps the zip small)
    first_obj = next(f for f, _, k in LAYOUT if k == "object")
    last_loc = next(last for _, last, k in LAYOUT if k == "location")
    a[:, first_obj - 1:last_loc] = np.nan
    a[:, 1] = 10.0 * np.arange(n) if challenge_split(subject, session) == "train" else 5000.0
    if (subject, session) == (1, "ADL2"):
        a[0, 2:243] = 10.0 * np.arange(3, 244)
    if (subject, session) == (1, "ADL1"):
        a[:, 243] = np.where(np.arange(n) < 10, 1, 5)
        a[:, 249] = np.select([np.arange(n) < 6, np.arange(n) < 14], [0, 406516], 405506)
    if (subject, session) == (2, "ADL3"):
        a[0:21, 4:7] = np.nan
        a[3, 13:16] = np.nan
    return a


def build(column_names: Path, out: Path = OUT) -> Path:
    text = column_names.read_text(encoding="latin-1")
    oc.check_column_names(text, where=str(column_names))
    if layout_from_column_names(oc.parse_column_names(text)) != LAYOUT:
        raise SystemExit(f"{column_names}: the column kinds differ from opportunity_synth.LAYOUT")
    tmp = out.with_name(out.name + ".incomplete")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for subject in (1, 2, 3, 4):
            for session in SESSIONS:
                data = format_table(make_table(subject, session))
                if (subject, session) == (3, "ADL1"):
                    data = data.replace(b"\n", b"\r\n")
                info = zipfile.ZipInfo(f"{MEMBER_DIR}S{subject}-{session}.dat", date_time=(2012, 6, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
    tmp.replace(out)
    return out


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[3] / "shared" / "formats" / "opportunity"
    path = build(src / "column_names.txt")
    print(f"wrote {path} ({path.stat().st_size} bytes)")
