"""NTU RGB+D raw files in the real layout, generated: ``.skeleton`` texts, skeleton zips, tiny AVIs (PyAV) in RGB
zips; plus a straightforward per-line parser (the reference of the tests and of ``benchmarks/test_bench_ntu.py``)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

SKELETON_FOLDER = "nturgb+d_skeletons"
RGB_FOLDER = "nturgb+d_rgb"
#: generated samples: setup 1, cameras 1-3, two training subjects (1, 2, 4 are in the published list) and two test
#: subjects (3, 6), actions 1-3, plus one sample of the official missing-skeleton list (S001C002P005R002A008)
FIXTURE_SUBJECTS = (1, 2, 4, 3, 6)
MISSING_SAMPLE = "S001C002P005R002A008"


def fixture_names() -> list[str]:
    """The sample names of :func:`write_raw` (missing-skeleton sample included)."""
    names = [f"S001C{c:03d}P{p:03d}R001A{a:03d}" for c in (1, 2, 3) for p in FIXTURE_SUBJECTS for a in (1, 2, 3)]
    return sorted([*names, MISSING_SAMPLE])


def joint_line(xyz: Sequence[float], k: int) -> str:
    """One joint line of 12 fields (x y z, depth xy, colour xy, orientation wxyz, tracking state 2)."""
    x, y, z = (float(v) for v in xyz)
    return f"{x:.7g} {y:.7g} {z:.7g} {250 + k:.7g} {180.5 - k:.7g} {1000.25 + k:.7g} {500.75 + k:.7g} 0.1 0.2 0.3 0.9 2"


def skeleton_text(frames: Sequence[Sequence[tuple[str, np.ndarray]]], joints: int = 25) -> str:
    """A ``.skeleton`` file: per frame a list of ``(body id, (joints, 3) xyz)``."""
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for body_id, xyz in bodies:
            out.append(f"{body_id} 0 1 1 1 1 0 0.02764709 0.05745083 2")
            out.append(str(joints))
            out.extend(joint_line(xyz[j], j) for j in range(len(xyz)))
    return "\n".join(out) + "\n"


def random_sequence(rng: np.random.Generator, n_frames: int, n_bodies: int = 1, motion: float = 0.05) -> str:
    """``n_frames`` frames of ``n_bodies`` bodies doing a random walk (body ``k`` moves ``(k + 1)·motion``)."""
    base = rng.normal(0.0, 0.3, size=(n_bodies, 25, 3)) + np.array([0.0, 0.0, 3.0])
    steps = rng.normal(0.0, 1.0, size=(n_frames, n_bodies, 25, 3)) * (np.arange(n_bodies) + 1)[None, :, None, None]
    xyz = base + np.cumsum(steps * motion, axis=0)
    frames = [[(str(72057594037931101 + k), xyz[f, k]) for k in range(n_bodies)] for f in range(n_frames)]
    return skeleton_text(frames)


def write_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A zip archive with the given members (in name order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name in sorted(members):
            zf.writestr(name, members[name])
    return path


def tiny_avi(n_frames: int = 12, width: int = 64, height: int = 48, seed: int = 0, rate: int = 30) -> bytes:
    """An MPEG-4 AVI written with PyAV: frame ``i`` is a flat colour whose red channel is ``10·i`` (so sampled
    frames are recognisable after resizing)."""
    import av

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"qscale": "1"}
        green = int(rng.integers(40, 200))
        for i in range(n_frames):
            img = np.zeros((height, width, 3), dtype=np.uint8)
            img[..., 0] = min(255, 10 * i)
            img[..., 1] = green
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def write_raw(
    raw: Path,
    names: Iterable[str] | None = None,
    seed: int = 0,
    rgb: bool = False,
    frames: tuple[int, int] = (12, 40),
) -> dict[str, str]:
    """``raw/nturgbd_skeletons_s001_to_s017.zip`` (and with ``rgb`` ``raw/nturgbd_rgb_s001.zip``) holding the
    fixture samples; returns the skeleton texts by sample name. Two-person actions get two bodies; the
    missing-skeleton sample has frames without bodies."""
    rng = np.random.default_rng(seed)
    texts: dict[str, str] = {}
    for name in names if names is not None else fixture_names():
        n = int(rng.integers(frames[0], frames[1] + 1))
        if name == MISSING_SAMPLE:
            texts[name] = skeleton_text([[] for _ in range(n)])
        else:
            texts[name] = random_sequence(rng, n, n_bodies=2 if name.endswith("A003") else 1)
    write_zip(
        raw / "nturgbd_skeletons_s001_to_s017.zip",
        {f"{SKELETON_FOLDER}/{k}.skeleton": v.encode() for k, v in texts.items()},
    )
    if rgb:
        videos = {
            f"{RGB_FOLDER}/{k}_rgb.avi": tiny_avi(n_frames=10 + i % 5, seed=i)
            for i, k in enumerate(sorted(texts))
            if k != MISSING_SAMPLE
        }
        write_zip(raw / "nturgbd_rgb_s001.zip", videos, compression=zipfile.ZIP_STORED)
    return texts


def reference_parse(data: bytes) -> tuple[int, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Straightforward per-line parser: ``(n_frames, {body id: (n_frames, 25, 3) xyz}, {body id: (n_frames,) bool})``."""
    lines = data.decode().splitlines()
    i = 0
    n_frames = int(lines[i])
    i += 1
    xyz: dict[str, np.ndarray] = {}
    present: dict[str, np.ndarray] = {}
    for f in range(n_frames):
        n_bodies = int(lines[i])
        i += 1
        for _ in range(n_bodies):
            body_id = lines[i].split()[0]
            joints = int(lines[i + 1])
            i += 2
            rows = [[float(v) for v in lines[i + j].split()] for j in range(joints)]
            i += joints
            if body_id not in xyz:
                xyz[body_id] = np.zeros((n_frames, 25, 3), dtype=np.float32)
                present[body_id] = np.zeros(n_frames, dtype=bool)
            xyz[body_id][f] = np.asarray(rows, dtype=np.float32)[:, :3]
            present[body_id][f] = True
    return n_frames, xyz, present


def reference_sample(data: bytes, frames: int = 64) -> np.ndarray:
    """The per-line reference of ``read_skeleton``: parse, two most active bodies, uniform resampling, centring."""
    n, xyz, present = reference_parse(data)
    activity = {}
    for k in xyz:
        tracked = xyz[k][present[k]].reshape(int(present[k].sum()), -1).astype(np.float64)
        activity[k] = float(tracked.var(axis=0).sum()) if len(tracked) > 1 else 0.0
    order = sorted(xyz, key=lambda k: -activity[k])[:2]  # stable: ties keep the order of first appearance
    out = np.zeros((n, 2, 25, 3), dtype=np.float32)
    mask = np.zeros((n, 2), dtype=bool)
    for slot, k in enumerate(order):
        out[:, slot], mask[:, slot] = xyz[k], present[k]
    if mask[:, 0].any():
        origin = out[int(np.argmax(mask[:, 0])), 0, 1].copy()
        out = np.where(mask[:, :, None, None], out - origin, np.float32(0.0))
    idx = [round(v) for v in np.linspace(0, n - 1, frames)] if n else [0] * frames
    return out[idx] if n else np.zeros((frames, 2, 25, 3), np.float32)
