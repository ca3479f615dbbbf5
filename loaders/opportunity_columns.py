"""OPPORTUNITY column and label metadata, derived from the dataset's ``column_names.txt`` and ``label_legend.txt``.

The 113 channels are the OPPORTUNITY-challenge subset (Chavarriaga et al., Pattern Recognition Letters 2013;
as used by DeepConvLSTM, Ordóñez & Roggen 2016, and EmbraceNet, Choi & Lee 2019 §6.1.2): every body-worn
sensor column except the IMU quaternions. The rule, applied to the parsed ``column_names.txt``:

* body-worn sensors = the ``Accelerometer`` / ``InertialMeasurementUnit`` columns from column 2 up to the last
  ``InertialMeasurementUnit`` column (the object, reed-switch, ambient and location columns all follow it);
* one modality per physical sensor (kind + location), in file order: 12 accelerometers (3 channels), 5 upper-body
  IMUs (acc, gyro, magnetic: 9 channels), 2 shoe IMUs (16 channels) → 19 modalities, 113 channels;
* ``Quaternion*`` channels are dropped.

The committed tables below (:data:`MODALITY_COLUMNS`, :data:`LABEL_COLUMNS`, the class tables) are the output of
:func:`derive_modalities` / :func:`parse_label_legend` on the real files; ``tests/test_opportunity.py`` regenerates them
from ``../shared/formats/opportunity`` and compares, and :func:`check_column_names` re-checks any ``column_names.txt``
found in a raw archive. Regenerate with ``python -m modalbench.loaders.opportunity_columns DIR``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from modalbench.errors import ModalbenchError

N_COLUMNS = 250
TIME_COLUMN = 1  # MILLISEC (1-based, as in column_names.txt)

_COLUMN_RE = re.compile(r"^Column:\s*(\d+)\s+(.*?)\s*$")
_LEGEND_RE = re.compile(r"^\s*(\d+)\s+-\s+(.+?)\s+-\s+(.+?)\s*$")
_SENSOR_KINDS = {"Accelerometer": "acc", "InertialMeasurementUnit": "imu"}


@dataclass(frozen=True)
class Column:
    """One column of a ``.dat`` file (``index`` is 1-based as in ``column_names.txt``)."""

    index: int
    text: str  # everything after the number, e.g. "Accelerometer RKN^ accX; value = ..., unit = milli g"
    section: str  # "data" or "label"

    @property
    def name(self) -> str:
        """The part before ``;`` (``"Accelerometer RKN^ accX"``)."""
        return self.text.split(";", 1)[0].strip()

    @property
    def words(self) -> list[str]:
        return self.name.split()


@dataclass(frozen=True)
class SensorGroup:
    """One body-worn sensor = one modality: ``columns`` are 1-based file columns, ``channels`` their names."""

    name: str
    source: str  # e.g. "Accelerometer RKN^"
    columns: tuple[int, ...]
    channels: tuple[str, ...]


#: channel names of the body-worn sensor kinds (each table row names one of these)
ACC_CHANNELS: tuple[str, ...] = ("accX", "accY", "accZ")
IMU_CHANNELS: tuple[str, ...] = (*ACC_CHANNELS, "gyroX", "gyroY", "gyroZ", "magneticX", "magneticY", "magneticZ")
SHOE_CHANNELS: tuple[str, ...] = (
    "EuX",
    "EuY",
    "EuZ",
    "Nav_Ax",
    "Nav_Ay",
    "Nav_Az",
    "Body_Ax",
    "Body_Ay",
    "Body_Az",
    "AngVelBodyFrameX",
    "AngVelBodyFrameY",
    "AngVelBodyFrameZ",
    "AngVelNavFrameX",
    "AngVelNavFrameY",
    "AngVelNavFrameZ",
    "Compass",
)
#: how :func:`render_python` names a channel tuple in the committed table
CHANNEL_SET_NAMES: dict[tuple[str, ...], str] = {
    ACC_CHANNELS: "ACC_CHANNELS",
    IMU_CHANNELS: "IMU_CHANNELS",
    SHOE_CHANNELS: "SHOE_CHANNELS",
}


def parse_column_names(text: str, *, where: str = "column_names.txt") -> list[Column]:
    """All ``Column: N ...`` lines (data then label section), checked to be numbered 1..250 without gaps."""
    cols: list[Column] = []
    section = "data"
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.lower().startswith("label columns"):
            section = "label"
            continue
        m = _COLUMN_RE.match(line)
        if not m:
            continue
        idx = int(m.group(1))
        if idx != len(cols) + 1:
            raise ModalbenchError(f"{where} line {lineno}: column {idx} out of order (expected {len(cols) + 1})")
        cols.append(Column(idx, m.group(2), section))
    if len(cols) != N_COLUMNS:
        raise ModalbenchError(f"{where}: found {len(cols)} 'Column: N' lines, expected {N_COLUMNS}")
    return cols


def _modality_name(kind: str, location: str) -> str:
    """``acc`` + ``RKN^`` → ``acc_rkn_upper``; ``imu`` + ``L-SHOE`` → ``imu_l_shoe`` (safe zarr names)."""
    loc = location
    suffix = ""
    if loc.endswith("^"):
        loc, suffix = loc[:-1], "_upper"
    elif loc.endswith("_"):
        loc, suffix = loc[:-1], "_lower"
    loc = re.sub(r"[^0-9A-Za-z]+", "_", loc).strip("_").lower()
    return f"{kind}_{loc}{suffix}"


def derive_modalities(columns: list[Column]) -> tuple[SensorGroup, ...]:
    """The 19 body-worn sensors of the challenge subset (see the module docstring for the rule)."""
    data = [c for c in columns if c.section == "data"]
    if not data or data[0].words[:1] != ["MILLISEC"]:
        raise ModalbenchError("column_names.txt: column 1 is not MILLISEC")
    imu = [c.index for c in data if c.words[:1] == ["InertialMeasurementUnit"]]
    if not imu:
        raise ModalbenchError("column_names.txt: no InertialMeasurementUnit columns")
    groups: dict[tuple[str, str], list[Column]] = {}
    for c in data[1:]:
        if c.index > imu[-1]:
            break
        w = c.words
        if len(w) < 3 or w[0] not in _SENSOR_KINDS:
            raise ModalbenchError(f"column_names.txt: column {c.index} {c.name!r} is not a body-worn sensor column")
        if w[-1].startswith("Quaternion"):
            continue
        groups.setdefault((w[0], w[1]), []).append(c)
    out = []
    for (kind, loc), cs in groups.items():
        out.append(
            SensorGroup(
                _modality_name(_SENSOR_KINDS[kind], loc),
                f"{kind} {loc}",
                tuple(c.index for c in cs),
                tuple(c.words[-1] for c in cs),
            )
        )
    names = [g.name for g in out]
    if len(set(names)) != len(names):
        raise ModalbenchError(f"column_names.txt: modality names are not unique: {names}")
    return tuple(out)


def derive_label_columns(columns: list[Column]) -> dict[str, int]:
    """Label track name → 1-based column (``Locomotion`` → 244 … ``ML_Both_Arms`` → 250)."""
    return {c.name: c.index for c in columns if c.section == "label"}


def parse_label_legend(text: str, *, where: str = "label_legend.txt") -> dict[str, dict[int, str]]:
    """``{track: {raw id: label name}}`` from ``label_legend.txt`` (CRLF tolerated)."""
    out: dict[str, dict[int, str]] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.lower().startswith("unique index"):
            continue
        m = _LEGEND_RE.match(line)
        if not m:
            raise ModalbenchError(f"{where} line {lineno}: expected 'ID   -   Track   -   Name', got {line!r}")
        out.setdefault(m.group(2), {})[int(m.group(1))] = m.group(3)
    return out


def check_column_names(text: str, *, where: str = "column_names.txt") -> None:
    """Raise when ``text`` does not yield exactly the committed mapping (a different dataset release)."""
    cols = parse_column_names(text, where=where)
    got = derive_modalities(cols)
    if got != MODALITY_COLUMNS:
        diff = [
            f"{a.name}{list(a.columns)} vs {b.name}{list(b.columns)}"
            for a, b in zip(got, MODALITY_COLUMNS, strict=False)
            if a != b
        ]
        raise ModalbenchError(
            f"{where}: body-worn column mapping differs from the one modalbench was built for "
            f"({len(got)} vs {len(MODALITY_COLUMNS)} sensors; first differences: {diff[:3]})"
        )
    labels = derive_label_columns(cols)
    if labels != LABEL_COLUMNS:
        raise ModalbenchError(f"{where}: label columns {labels} differ from the expected {LABEL_COLUMNS}")


def render_python(groups: tuple[SensorGroup, ...], label_columns: dict[str, int]) -> str:
    """The committed tables as Python source (what the generator prints; the module holds it verbatim)."""
    import json

    def columns(cols: tuple[int, ...]) -> str:
        contiguous = cols == tuple(range(cols[0], cols[-1] + 1))
        return f"tuple(range({cols[0]}, {cols[-1] + 1}))" if contiguous else repr(cols)

    lines = ["MODALITY_COLUMNS: tuple[SensorGroup, ...] = ("]
    for g in groups:
        channels = CHANNEL_SET_NAMES.get(g.channels) or repr(g.channels)
        lines.append(
            f"    SensorGroup({json.dumps(g.name)}, {json.dumps(g.source)}, {columns(g.columns)}, {channels}),"
        )
    lines.append(")")
    lines.append("LABEL_COLUMNS: dict[str, int] = {")
    lines += [f"    {json.dumps(k)}: {v}," for k, v in label_columns.items()]
    lines.append("}")
    return "\n".join(lines)


# ---------------------------------------------------------------- committed tables (generated; see module docstring)

MODALITY_COLUMNS: tuple[SensorGroup, ...] = (
    SensorGroup("acc_rkn_upper", "Accelerometer RKN^", tuple(range(2, 5)), ACC_CHANNELS),
    SensorGroup("acc_hip", "Accelerometer HIP", tuple(range(5, 8)), ACC_CHANNELS),
    SensorGroup("acc_lua_upper", "Accelerometer LUA^", tuple(range(8, 11)), ACC_CHANNELS),
    SensorGroup("acc_rua_lower", "Accelerometer RUA_", tuple(range(11, 14)), ACC_CHANNELS),
    SensorGroup("acc_lh", "Accelerometer LH", tuple(range(14, 17)), ACC_CHANNELS),
    SensorGroup("acc_back", "Accelerometer BACK", tuple(range(17, 20)), ACC_CHANNELS),
    SensorGroup("acc_rkn_lower", "Accelerometer RKN_", tuple(range(20, 23)), ACC_CHANNELS),
    SensorGroup("acc_rwr", "Accelerometer RWR", tuple(range(23, 26)), ACC_CHANNELS),
    SensorGroup("acc_rua_upper", "Accelerometer RUA^", tuple(range(26, 29)), ACC_CHANNELS),
    SensorGroup("acc_lua_lower", "Accelerometer LUA_", tuple(range(29, 32)), ACC_CHANNELS),
    SensorGroup("acc_lwr", "Accelerometer LWR", tuple(range(32, 35)), ACC_CHANNELS),
    SensorGroup("acc_rh", "Accelerometer RH", tuple(range(35, 38)), ACC_CHANNELS),
    SensorGroup("imu_back", "InertialMeasurementUnit BACK", tuple(range(38, 47)), IMU_CHANNELS),
    SensorGroup("imu_rua", "InertialMeasurementUnit RUA", tuple(range(51, 60)), IMU_CHANNELS),
    SensorGroup("imu_rla", "InertialMeasurementUnit RLA", tuple(range(64, 73)), IMU_CHANNELS),
    SensorGroup("imu_lua", "InertialMeasurementUnit LUA", tuple(range(77, 86)), IMU_CHANNELS),
    SensorGroup("imu_lla", "InertialMeasurementUnit LLA", tuple(range(90, 99)), IMU_CHANNELS),
    SensorGroup("imu_l_shoe", "InertialMeasurementUnit L-SHOE", tuple(range(103, 119)), SHOE_CHANNELS),
    SensorGroup("imu_r_shoe", "InertialMeasurementUnit R-SHOE", tuple(range(119, 135)), SHOE_CHANNELS),
)
LABEL_COLUMNS: dict[str, int] = {
    "Locomotion": 244,
    "HL_Activity": 245,
    "LL_Left_Arm": 246,
    "LL_Left_Arm_Object": 247,
    "LL_Right_Arm": 248,
    "LL_Right_Arm_Object": 249,
    "ML_Both_Arms": 250,
}

# Locomotion: raw ids 1, 2, 4, 5 → classes 1..4 (0 = null); names from label_legend.txt (track "Locomotion").
LOCOMOTION_IDS: tuple[int, ...] = (1, 2, 4, 5)
LOCOMOTION_CLASSES: tuple[str, ...] = ("null", "Stand", "Walk", "Sit", "Lie")
# Mid-level gestures (track "ML_Both_Arms"): raw ids in the order of the challenge → classes 1..17 (0 = null).
GESTURE_IDS: tuple[int, ...] = (
    406516,
    406517,
    404516,
    404517,
    406520,
    404520,
    406505,
    404505,
    406519,
    404519,
    406511,
    404511,
    406508,
    404508,
    408512,
    407521,
    405506,
)
GESTURE_CLASSES: tuple[str, ...] = (
    "null",
    "Open Door 1",
    "Open Door 2",
    "Close Door 1",
    "Close Door 2",
    "Open Fridge",
    "Close Fridge",
    "Open Dishwasher",
    "Close Dishwasher",
    "Open Drawer 1",
    "Close Drawer 1",
    "Open Drawer 2",
    "Close Drawer 2",
    "Open Drawer 3",
    "Close Drawer 3",
    "Clean Table",
    "Drink from Cup",
    "Toggle Switch",
)


def main(argv: list[str] | None = None) -> int:
    """Print the generated tables for ``DIR/column_names.txt`` and ``DIR/label_legend.txt``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m modalbench.loaders.opportunity_columns DIR_WITH_column_names.txt", file=sys.stderr)
        return 2
    d = Path(argv[0])
    cols = parse_column_names(d.joinpath("column_names.txt").read_text(encoding="latin-1"))
    print(render_python(derive_modalities(cols), derive_label_columns(cols)))
    legend = parse_label_legend(d.joinpath("label_legend.txt").read_text(encoding="latin-1"))
    loco = ("null",) + tuple(legend["Locomotion"][i] for i in LOCOMOTION_IDS)
    gest = ("null",) + tuple(legend["ML_Both_Arms"][i] for i in GESTURE_IDS)
    print(f"LOCOMOTION_CLASSES: tuple[str, ...] = {loco!r}")
    print(f"GESTURE_CLASSES: tuple[str, ...] = {gest!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
