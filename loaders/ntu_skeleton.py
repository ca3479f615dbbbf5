"""The NTU RGB+D ``.skeleton`` text format (Shahroudy et al., CVPR 2016; Liu et al., TPAMI 2019), parsed fast.

Layout (the official MATLAB reader ``read_skeleton_file.m``)::

    <frame count>
    per frame:  <body count>
      per body: <10-field body info: bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence
                 handRightState isRestricted leanX leanY trackingState>
                25
                25 joint lines of 12 fields: x y z depthX depthY colorX colorY orientationW X Y Z trackingState

Only the camera-space ``x y z`` (metres) of each joint are kept. :func:`parse_skeleton` does a cheap scan over the
frame and body header lines in Python (a few hundred per file) and reads every joint line of the file with one call
of pyarrow's CSV reader (which checks each line's field count and converts only ``x y z``); when it refuses the
text, an exact line-by-line check names the file and the line of the error.

:func:`skeleton_sample` turns a parsed file into one fixed-size sample:

* **bodies**: the two most active bodies are kept (the common convention of NTU skeleton models, e.g. the
  pre-processing of Shi et al. 2s-AGCN / CTR-GCN): a body's activity is the summed variance over time of its 75
  joint coordinates, over the frames where it is tracked; slot 0 is the most active. Absent bodies are zero-filled
  and a per-frame body mask says which slots hold a tracked body;
* **length**: resampled to ``frames`` steps by uniform sampling (``round(linspace(0, n - 1, frames))``: frames
  repeat when the sequence is shorter); the original frame count is returned;
* **centre** (``centre=True``): every tracked joint minus the spine joint (joint 2 in the 1-based numbering,
  "middle of the spine") of slot 0 in its first tracked frame; untracked entries stay 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modalbench.errors import ModalbenchError

#: joints per body
JOINTS = 25
#: fields of a joint line / a body info line
JOINT_FIELDS = 12
BODY_INFO_FIELDS = 10
#: bodies kept per sample
MAX_BODIES = 2
#: 0-based index of the "middle of the spine" joint (joint 2 of the NTU numbering), the centring origin
SPINE_JOINT = 1
#: the 25 Kinect v2 joints in NTU order (1-based numbering of the dataset paper, Fig. 1)
JOINT_NAMES = (
    "spine_base",
    "spine_middle",
    "neck",
    "head",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "left_hand",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "right_hand",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_foot",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_foot",
    "spine_shoulder",
    "left_hand_tip",
    "left_thumb",
    "right_hand_tip",
    "right_thumb",
)


@dataclass
class ParsedSkeleton:
    """A parsed ``.skeleton`` file: every tracked body, in file order.

    ``xyz[k]`` holds the joint positions ``(n_frames, 25, 3)`` of body ``body_ids[k]`` (zeros where it is not
    tracked) and ``present[k]`` ``(n_frames,)`` the frames where it is.
    """

    n_frames: int
    body_ids: list[str]
    xyz: np.ndarray  # (n_bodies, n_frames, 25, 3) float32
    present: np.ndarray  # (n_bodies, n_frames) bool


@dataclass
class SkeletonSample:
    """One fixed-size sample: ``xyz`` ``(frames, 2, 25, 3)`` float32, ``body_mask`` ``(frames, 2)`` bool."""

    xyz: np.ndarray
    body_mask: np.ndarray
    n_frames: int  # original length
    n_bodies: int  # distinct tracked bodies in the file


def _error(where: str, line: int, what: str) -> ModalbenchError:
    return ModalbenchError(f"{where} line {line}: {what}")


def _int_line(lines: list[bytes], i: int, where: str, what: str) -> int:
    if i >= len(lines):
        raise _error(where, i + 1, f"file ends early, expected {what}")
    text = lines[i].strip()
    try:
        return int(text)
    except ValueError:
        raise _error(
            where, i + 1, f"expected {what} (an integer), got {text[:40].decode(errors='replace')!r}"
        ) from None


def parse_skeleton(data: bytes, where: str) -> ParsedSkeleton:
    """Parse the bytes of one ``.skeleton`` file; ``where`` names it in errors (``<where> line N: ...``)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    if len(buf) and (not len(ends) or ends[-1] != len(buf) - 1):
        ends = np.append(ends, len(buf))  # last line without a newline
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()  # the empty text after the final newline is not a line
    n_frames = _int_line(lines, 0, where, "the frame count")
    if n_frames < 0:
        raise _error(where, 1, f"frame count {n_frames} is negative")
    i = 1
    block_lines: list[int] = []  # index of the first joint line of each (frame, body)
    block_frame: list[int] = []
    block_body: list[int] = []
    ids: dict[bytes, int] = {}
    for f in range(n_frames):
        n_bodies = _int_line(lines, i, where, f"the body count of frame {f + 1}")
        if n_bodies < 0:
            raise _error(where, i + 1, f"body count {n_bodies} is negative")
        i += 1
        for _ in range(n_bodies):
            if i >= len(lines):
                raise _error(where, i + 1, f"file ends early, expected a body info line of frame {f + 1}")
            info = lines[i].split()
            if len(info) != BODY_INFO_FIELDS:
                raise _error(where, i + 1, f"body info line has {len(info)} fields, expected {BODY_INFO_FIELDS}")
            joints = _int_line(lines, i + 1, where, "the joint count")
            if joints != JOINTS:
                raise _error(where, i + 2, f"joint count {joints}, expected {JOINTS}")
            if i + 2 + JOINTS > len(lines):
                raise _error(where, len(lines) + 1, f"file ends early inside the joints of frame {f + 1}")
            block_lines.append(i + 2)
            block_frame.append(f)
            block_body.append(ids.setdefault(info[0], len(ids)))
            i += 2 + JOINTS
    if any(line.strip() for line in lines[i:]):
        raise _error(where, i + 1, f"unexpected content after the {n_frames} frames the file announces")
    n_ids = len(ids)
    xyz = np.zeros((n_ids, n_frames, JOINTS, 3), dtype=np.float32)
    present = np.zeros((n_ids, n_frames), dtype=bool)
    if block_lines:
        first = np.asarray(block_lines, dtype=np.int64)
        rows = (first[:, None] + np.arange(JOINTS)).reshape(-1)
        coords = _parse_joint_xyz(data, lines, starts[first], ends[first + JOINTS - 1], where, rows)
        coords = coords.reshape(len(first), JOINTS, 3)
        frame, body = np.asarray(block_frame), np.asarray(block_body)
        if len(set(zip(block_frame, block_body, strict=True))) != len(block_frame):
            dup = next(k for k in range(len(first)) if (frame[:k] == frame[k])[body[:k] == body[k]].any())
            raise _error(where, int(first[dup]) - 1, f"body {ids_list(ids)[body[dup]]} appears twice in one frame")
        xyz[body, frame] = coords
        present[body, frame] = True
    return ParsedSkeleton(n_frames, ids_list(ids), xyz, present)


def ids_list(ids: dict[bytes, int]) -> list[str]:
    """Body ids in order of first appearance."""
    return [k.decode(errors="replace") for k in ids]


def _check_joint_lines(lines: list[bytes], rows: np.ndarray, where: str) -> None:
    """The slow, exact check of every joint line (12 fields, x y z numbers): raises naming the first bad line."""
    for r in rows.tolist():
        fields = lines[r].split()
        if len(fields) != JOINT_FIELDS:
            raise _error(where, r + 1, f"joint line has {len(fields)} fields, expected {JOINT_FIELDS}")
        for tok in fields[:3]:
            try:
                float(tok)
            except ValueError:
                raise _error(where, r + 1, f"{tok[:40].decode(errors='replace')!r} is not a number") from None


def _parse_joint_xyz(
    data: bytes, lines: list[bytes], lo: np.ndarray, hi: np.ndarray, where: str, rows: np.ndarray
) -> np.ndarray:
    """``x y z`` of every joint line, ``(len(rows), 3)`` float32.

    Fast path: the joint blocks (byte ranges ``lo..hi``) go through pyarrow's CSV reader in one call; it checks
    every line's field count (12, single spaces) and converts only the first three fields. Anything it refuses
    (runs of blanks, a short line, a non-number) goes through :func:`_check_joint_lines`, which names the line, or
    else (well-formed but irregular whitespace) through a plain whitespace split.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    text = b"\n".join(data[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True))
    try:
        table = pacsv.read_csv(
            pa.py_buffer(text),
            read_options=pacsv.ReadOptions(column_names=_FIELD_NAMES, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=" ", quote_char=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.float64() for n in _FIELD_NAMES[:3]}, include_columns=_FIELD_NAMES[:3]
            ),
        )
        if table.num_rows == len(rows):
            return np.stack([c.to_numpy(zero_copy_only=False) for c in table.columns], axis=1).astype(np.float32)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    _check_joint_lines(lines, rows, where)
    values = np.array(b" ".join(lines[r] for r in rows.tolist()).split(), dtype=np.float64)
    return values.reshape(len(rows), JOINT_FIELDS)[:, :3].astype(np.float32)


_FIELD_NAMES = [f"f{j}" for j in range(JOINT_FIELDS)]


def body_activity(parsed: ParsedSkeleton) -> np.ndarray:
    """Per body: the summed variance over its tracked frames of its 75 joint coordinates (0 when tracked once)."""
    out = np.zeros(len(parsed.body_ids), dtype=np.float64)
    for k in range(len(out)):
        frames = parsed.xyz[k][parsed.present[k]].astype(np.float64)
        if len(frames) > 1:
            out[k] = float(frames.reshape(len(frames), -1).var(axis=0).sum())
    return out


def uniform_indices(n: int, frames: int) -> np.ndarray:
    """``frames`` indices into ``n`` frames, uniformly spaced (``round(linspace(0, n - 1, frames))``)."""
    if n <= 0:
        return np.zeros(frames, dtype=np.int64)
    return np.rint(np.linspace(0, n - 1, frames)).astype(np.int64)


def skeleton_sample(parsed: ParsedSkeleton, frames: int = 64, centre: bool = True) -> SkeletonSample:
    """Keep the two most active bodies, resample to ``frames`` steps, optionally centre (module docstring)."""
    if frames < 1:
        raise ModalbenchError(f"skeleton frames must be >= 1 (got {frames})")
    activity = body_activity(parsed)
    keep = sorted(range(len(activity)), key=lambda k: (-activity[k], k))[:MAX_BODIES]
    xyz = np.zeros((parsed.n_frames, MAX_BODIES, JOINTS, 3), dtype=np.float32)
    mask = np.zeros((parsed.n_frames, MAX_BODIES), dtype=bool)
    for slot, k in enumerate(keep):
        xyz[:, slot] = parsed.xyz[k]
        mask[:, slot] = parsed.present[k]
    if centre and mask[:, 0].any():
        origin = xyz[int(np.argmax(mask[:, 0])), 0, SPINE_JOINT].copy()
        xyz = np.where(mask[:, :, None, None], xyz - origin, np.float32(0.0))
    if parsed.n_frames == 0:
        return SkeletonSample(
            np.zeros((frames, MAX_BODIES, JOINTS, 3), np.float32), np.zeros((frames, MAX_BODIES), bool), 0, 0
        )
    idx = uniform_indices(parsed.n_frames, frames)
    return SkeletonSample(
        np.ascontiguousarray(xyz[idx], dtype=np.float32), mask[idx], parsed.n_frames, len(parsed.body_ids)
    )


def read_skeleton(data: bytes, where: str, frames: int = 64, centre: bool = True) -> SkeletonSample:
    """Parse one ``.skeleton`` file and turn it into a fixed-size sample (:func:`skeleton_sample`)."""
    return skeleton_sample(parse_skeleton(data, where), frames=frames, centre=centre)
