"""Generate the tiny gas-sensor fixture ``WTD_upload.zip`` (SYNTHETIC values, real UCI-251 layout).

Run from the repository root: ``.venv/bin/python tests/data/gas_sensor/make_fixture.py``. Members are
``WTD_upload/<Gas>_<ppm>/L<k>/<YYYYMMDDhhmm>_board_setPoint_<V>V_fan_setPoint_<fan>_mfc_setPoint_<Gas>_<ppm>ppm_p<2k-1>``
(plus directory entries), each line 92 TAB-separated fields and a trailing TAB, LF line ends, no header, like
the real files (see ../shared/formats/gas_open_sampling). Timestamps are irregular (steps of 60–240 ms instead of
the real 10–21 ms, to keep the zip small) and run to 10.5 s; the tests prepare with ``resample.duration_s = 10``.

Hand-made content the tests rely on:

* :data:`FILES` lists every file: CO_1000 in L1 (two trials), L2–L6; CO_4000 in L1, L2, L4; Ethylene_500 in L1–L6;
* in every file, sensor type ``s`` on board ``b`` (1-based) reads ``100·s + b + 10·k`` during second ``k``
  (constant within the second), so its 1-Hz bin mean is exactly that; each file has samples at t = 999 and
  t = 1000 ms (the edge of bins 0 and 1);
* the CO_1000 L2 file has no samples in [3000, 5000) ms, so bins 3 and 4 are empty (NaN);
* the CO_4000 files add 5000 to every sensor value (distinguishable from CO_1000).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "WTD_upload.zip"
SEED = 251
END_MS = 10_500
FAN_READING = {"000": 1575, "060": 3435, "100": 4820}

#: (folder, location, timestamp, voltage setpoint, fan setpoint)
FILES: tuple[tuple[str, int, str, str, str], ...] = (
    ("CO_1000", 1, "201012081822", "500", "060"),
    ("CO_1000", 1, "201012091030", "500", "060"),
    ("CO_1000", 2, "201012081900", "500", "060"),
    ("CO_1000", 3, "201012081930", "500", "060"),
    ("CO_1000", 4, "201012082000", "500", "060"),
    ("CO_1000", 5, "201012082030", "500", "060"),
    ("CO_1000", 6, "201012082100", "500", "060"),
    ("CO_4000", 1, "201101111200", "600", "100"),
    ("CO_4000", 2, "201101111230", "600", "100"),
    ("CO_4000", 4, "201101111300", "600", "100"),
    ("Ethylene_500", 1, "201102021000", "400", "000"),
    ("Ethylene_500", 2, "201102021030", "400", "000"),
    ("Ethylene_500", 3, "201102021100", "400", "000"),
    ("Ethylene_500", 4, "201102021130", "400", "000"),
    ("Ethylene_500", 5, "201102021200", "400", "000"),
    ("Ethylene_500", 6, "201102021230", "400", "000"),
)


def member_name(folder: str, loc: int, stamp: str, volt: str, fan: str) -> str:
    gas, ppm = folder.split("_")
    return (f"WTD_upload/{folder}/L{loc}/{stamp}_board_setPoint_{volt}V_fan_setPoint_{fan}"
            f"_mfc_setPoint_{gas}_{ppm}ppm_p{2 * loc - 1}")


def sensor_value(s: int, b: int, t_ms: np.ndarray, offset: int = 0) -> np.ndarray:
    """Sensor type ``s``, board ``b`` (1-based) at times ``t_ms``: ``100 s + b + 10 k`` in second ``k``."""
    return 100 * s + b + 10 * (t_ms // 1000) + offset


def timestamps(rng: np.random.Generator, gap: tuple[int, int] | None) -> np.ndarray:
    t = np.cumsum(rng.integers(60, 241, size=400))
    t = np.concatenate([[0], t[t < END_MS], [999, 1000]])
    if gap is not None:
        t = t[(t < gap[0]) | (t >= gap[1])]
    return np.unique(t)


def file_text(folder: str, fan: str, rng: np.random.Generator, gap: tuple[int, int] | None) -> bytes:
    t = timestamps(rng, gap)
    offset = 5000 if folder == "CO_4000" else 0
    gas_on = (t >= 2000) & (t < 8000)
    lines = []
    for i, tm in enumerate(t):
        mfc = "100" if gas_on[i] else "0"
        fields = [str(int(tm)), str(int(fan)), str(FAN_READING[fan]), mfc, mfc, mfc,
                  "105" if gas_on[i] else "0", "104" if gas_on[i] else "0", "105" if gas_on[i] else "0",
                  f"{24.29 + 0.01 * (i % 3):.2f}", f"{46.21 + 0.01 * (i % 5):.2f}"]
        for b in range(1, 10):
            fields.append("1")
            fields.extend(str(int(sensor_value(s, b, np.int64(tm), offset))) for s in range(1, 9))
        assert len(fields) == 92
        lines.append("\t".join(fields) + "\t\n")
    return "".join(lines).encode()


def build(out: Path = OUT) -> Path:
    rng = np.random.Generator(np.random.PCG64(SEED))
    tmp = out.with_name(out.name + ".incomplete")
    dirs: list[str] = []
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for folder, loc, stamp, volt, fan in FILES:
            name = member_name(folder, loc, stamp, volt, fan)
            for d in ("WTD_upload/", f"WTD_upload/{folder}/", f"WTD_upload/{folder}/L{loc}/"):
                if d not in dirs:
                    dirs.append(d)
                    zf.writestr(zipfile.ZipInfo(d, date_time=(2013, 1, 1, 0, 0, 0)), b"")
            gap = (3000, 5000) if (folder, loc) == ("CO_1000", 2) else None
            info = zipfile.ZipInfo(name, date_time=(2013, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, file_text(folder, fan, rng, gap))
    tmp.replace(out)
    return out


if __name__ == "__main__":
    path = build()
    print(f"wrote {path} ({path.stat().st_size} bytes)")
