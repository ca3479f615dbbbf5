"""NTU RGB+D 60 and 120 (Shahroudy et al., CVPR 2016; Liu et al., TPAMI 42(10), 2019): action recognition from
Kinect v2 skeletons and RGB video. Registration-only: the user requests access at ROSE Lab (NTU Singapore), downloads
the archives and ``modalbench prepare ntu60 --raw DIR`` does the rest.

Datasets (one registry name each, so their stores and leaderboard tables never mix):

* ``ntu60`` / ``ntu120``: modality ``skeleton`` (``T×2×25×3``: the two most active bodies, 25 joints, camera-space
  ``x y z`` in metres, :mod:`.ntu_skeleton`) and, when the RGB archives are placed, ``rgb`` (``T′×3×112×112`` uint8,
  :mod:`.ntu_video`) — MFAS's video + pose setting (Pérez-Rúa et al., CVPR 2019, §4). A sample whose video is not
  in the placed RGB archives keeps ``rgb`` unavailable (zeros, ``available = False``).
* ``ntu60-parts`` / ``ntu120-parts`` (skeleton only; **modalbench's own protocol**): five body-part modalities
  cut from the same skeleton (:data:`BODY_PARTS`, 0-based joint indices of :data:`.ntu_skeleton.JOINT_NAMES`):
  ``torso`` (spine base, spine middle, neck, head, spine shoulder), ``left_arm`` and ``right_arm`` (shoulder,
  elbow, wrist, hand, hand tip, thumb), ``left_leg`` and ``right_leg`` (hip, knee, ankle, foot). A skeleton-only
  download thus still gives a five-modality benchmark whose missing modalities read as failed body-part sensors.

Raw files (``DIR`` = ``--raw DIR``, else ``<root>/<dataset>/raw``): skeletons ``nturgbd_skeletons_s001_to_s017.zip``
(NTU 60) and ``nturgbd_skeletons_s018_to_s032.zip`` (the NTU 120 addition), members
``nturgb+d_skeletons/SsssCcccPpppRrrrAaaa.skeleton``; RGB ``nturgbd_rgb_sNNN.zip`` (one per setup), members
``nturgb+d_rgb/SsssCcccPpppRrrrAaaa_rgb.avi``. No checksum is published: size and sha256 of every placed archive are
recorded in the store's provenance and in ``<root>/<dataset>/raw/placed-sha256.json``, and a later prepare that
finds a different file under the same name is a checksum mismatch (trust on first use; ``--verification warn``
accepts it). Members are streamed
from the zips inside dask tasks (``block`` samples per task); nothing is extracted. Each file is parsed once: the
training blocks, which the pipeline computes twice (train statistics, then the write), are kept after their first
parse as ``.npz`` under ``<root>/<dataset>/raw/skeletons.parsed/`` (keyed by the archives' names, sizes and
modification times, the members and the skeleton parameters; ~38 KB a sample at 64 frames, so ~1.5 GB for the NTU 60
cross-subject training split) and read back by the second pass; validation and test blocks are parsed in the write
only.

The official lists of samples with missing or incomplete skeletons (302 for NTU 60, 535 for NTU 120;
:data:`MISSING_60_FILE`, :data:`MISSING_120_FILE`) are excluded by default (``exclude_missing``); the count is in the
store's provenance (``modalbench info``).

Splits (``protocol``): NTU 60 ``xsub`` (cross-subject: the 20 published training subjects) and ``xview``
(cross-view: cameras 2 and 3 train, camera 1 test); NTU 120 ``xsub`` (the 53 published training subjects) and
``xset`` (cross-setup: even setup numbers train). Validation is a seeded, subject-disjoint part of training
(``split.val_fraction`` of the training subjects, drawn with ``split.seed``; MFAS splits the 40 NTU 60 subjects
into train, validation and test): the validation subjects are recorded in the provenance. Label = action − 1;
class names from the published action list (:data:`ACTIONS`).
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import dask
import dask.array as da
import numpy as np

from modalbench.atomic import atomic_file, write_json_atomic
from modalbench.datasets import DatasetBuilder, PrepareContext, TaskInfo, register_dataset
from modalbench.errors import ModalbenchError
from modalbench.jsonio import read_json
from modalbench.meta import ModalitySpec
from modalbench.paths import local_raw_dir, resolve_root
from modalbench.preprocess.types import SampleSplit

from .archive import iter_members, open_member
from .download import RemoteFile, verify_file
from .ntu_skeleton import JOINTS, MAX_BODIES, read_skeleton
from .ntu_video import VIDEO_SIZE, read_video

REGISTER_URL = "https://rose1.ntu.edu.sg/dataset/actionRecognition/"
SKELETON_ZIP_60 = "nturgbd_skeletons_s001_to_s017.zip"
SKELETON_ZIP_120 = "nturgbd_skeletons_s018_to_s032.zip"
SAMPLE_RE = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
SKELETON_MEMBER_RE = re.compile(r"(?:^|/)(S\d{3}C\d{3}P\d{3}R\d{3}A\d{3})\.skeleton$")
RGB_MEMBER_RE = re.compile(r"(?:^|/)(S\d{3}C\d{3}P\d{3}R\d{3}A\d{3})_rgb\.avi$")
#: fields of a sample name, in order (stored per sample as ``ntu_code``)
CODE_FIELDS = ("setup", "camera", "subject", "replication", "action")
#: parsed training blocks, under the dataset's local raw directory (see the module docstring)
PARSED_DIR = "skeletons.parsed"
#: the official lists of samples with missing or incomplete skeletons (shahroudy/NTURGB-D, Matlab/), shipped here
MISSING_60_FILE = Path(__file__).with_name("ntu_missing_skeletons_60.txt")
MISSING_120_FILE = Path(__file__).with_name("ntu_missing_skeletons_120.txt")
#: cross-subject training subjects: NTU 60 (Shahroudy et al. 2016, §3.2) and NTU 120 (Liu et al. 2019, §4.1)
TRAIN_SUBJECTS_60 = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
TRAIN_SUBJECTS_120 = TRAIN_SUBJECTS_60 + (
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82,
    83, 84, 85, 86, 89, 91, 92, 93, 94, 95, 97, 98, 100, 103,
)  # fmt: skip
#: cross-view training cameras (NTU 60) and cross-setup training setups (NTU 120: the even ones)
TRAIN_CAMERAS_60 = (2, 3)
TRAIN_SETUPS_120 = tuple(range(2, 33, 2))
#: body parts of the ``-parts`` datasets: 0-based joint indices (see :data:`.ntu_skeleton.JOINT_NAMES`)
BODY_PARTS: dict[str, tuple[int, ...]] = {
    "torso": (0, 1, 2, 3, 20),
    "left_arm": (4, 5, 6, 7, 21, 22),
    "right_arm": (8, 9, 10, 11, 23, 24),
    "left_leg": (12, 13, 14, 15),
    "right_leg": (16, 17, 18, 19),
}
ACTIONS = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw", "sitting down",
    "standing up (from sitting position)", "clapping", "reading", "writing", "tear up paper", "wear jacket",
    "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses", "take off glasses", "put on a hat/cap",
    "take off a hat/cap", "cheer up", "hand waving", "kicking something", "reach into pocket",
    "hopping (one foot jumping)", "jump up", "make a phone call/answer phone", "playing with phone/tablet",
    "typing on a keyboard", "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute", "put the palms together",
    "cross hands in front (say stop)", "sneeze/cough", "staggering", "falling", "touch head (headache)",
    "touch chest (stomachache/heart pain)", "touch back (backache)", "touch neck (neckache)",
    "nausea or vomiting condition", "use a fan (with hand or paper)/feeling warm", "punching/slapping other person",
    "kicking other person", "pushing other person", "pat on back of other person", "point finger at the other person",
    "hugging other person", "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
    # NTU 120 additions (A61-A120)
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball", "tennis bat swing",
    "juggling table tennis balls", "hush (quite)", "flick hair", "thumb up", "thumb down", "make ok sign",
    "make victory sign", "staple book", "counting money", "cutting nails", "cutting paper (using scissors)",
    "snapping fingers", "open bottle", "sniff (smell)", "squat down", "toss a coin", "fold paper", "ball up paper",
    "play magic cube", "apply cream on face", "apply cream on hand back", "put on bag", "take off bag",
    "put something into a bag", "take something out of a bag", "open a box", "move heavy objects", "shake fist",
    "throw up cap/hat", "hands up (both hands)", "cross arms", "arm circles", "arm swings", "running on the spot",
    "butt kicks (kick backward)", "cross toe touch", "side kick", "yawn", "stretch oneself", "blow nose",
    "hit other person with something", "wield knife towards other person", "knock over other person (hit with body)",
    "grab other person's stuff", "shoot at other person with a gun", "step on foot", "high-five", "cheers and drink",
    "carry something with other person", "take a photo of other person", "follow other person",
    "whisper in other person's ear", "exchange things with other person", "support somebody with hand",
    "finger-guessing game (playing rock-paper-scissors)",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------- names and splits


def parse_sample_name(name: str) -> tuple[int, int, int, int, int]:
    """``SsssCcccPpppRrrrAaaa`` → ``(setup, camera, subject, replication, action)``."""
    m = SAMPLE_RE.fullmatch(name)
    if m is None:
        raise ModalbenchError(f"NTU sample name {name!r} is not SsssCcccPpppRrrrAaaa")
    s, c, p, r, a = (int(g) for g in m.groups())
    return s, c, p, r, a


def read_missing_list(path: Path) -> set[str]:
    """Sample names listed in an official missing-skeleton file (header lines and blanks skipped)."""
    out = set()
    for line in path.read_text().splitlines():
        token = line.strip()
        if SAMPLE_RE.fullmatch(token):
            out.add(token)
    return out


def is_training(code: Sequence[int], protocol: str) -> bool:
    """Whether a sample ``(setup, camera, subject, replication, action)`` is in the training part of ``protocol``
    (``xsub``/``xview`` for NTU 60, ``xsub120``/``xset`` for NTU 120)."""
    setup, camera, subject = int(code[0]), int(code[1]), int(code[2])
    if protocol == "xsub":
        return subject in TRAIN_SUBJECTS_60
    if protocol == "xview":
        return camera in TRAIN_CAMERAS_60
    if protocol == "xsub120":
        return subject in TRAIN_SUBJECTS_120
    if protocol == "xset":
        return setup in TRAIN_SETUPS_120
    raise ModalbenchError(f"unknown NTU protocol {protocol!r}")


def validation_subjects(train_subjects: Sequence[int], fraction: float, seed: int) -> list[int]:
    """A seeded ``fraction`` (at least one, at most all but one) of the training subjects, sorted."""
    subjects = sorted(set(int(s) for s in train_subjects))
    if len(subjects) < 2:
        raise ModalbenchError(
            f"NTU: the training part has {len(subjects)} subject(s); a subject-disjoint validation set needs two"
        )
    if not 0.0 < fraction < 1.0:
        raise ModalbenchError(f"NTU: parameter split.val_fraction must be in (0, 1) (got {fraction})")
    k = min(len(subjects) - 1, max(1, int(round(fraction * len(subjects)))))
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    return sorted(int(s) for s in rng.choice(subjects, size=k, replace=False))


def assign_splits(codes: np.ndarray, protocol: str, val_fraction: float, seed: int) -> tuple[np.ndarray, list[int]]:
    """Split name per sample (``train``/``val``/``test``) and the validation subjects."""
    train = np.array([is_training(c, protocol) for c in codes], dtype=bool)
    val_subj = validation_subjects(codes[train, 2], val_fraction, seed) if train.any() else []
    split = np.where(train, "train", "test").astype(object)
    split[train & np.isin(codes[:, 2], val_subj)] = "val"
    return split, val_subj


# ---------------------------------------------------------------------------------------------- dask tasks


#: version of the parsed-block cache layout (bump when :func:`read_skeleton`'s output changes)
PARSED_CACHE_VERSION = 1


def parsed_block_path(cache_dir: str, members: list[tuple[str, str]], frames: int, centre: bool) -> Path:
    """Where the parsed arrays of one block are kept: keyed by each archive's name, size and modification time,
    the members and the skeleton parameters (a changed archive or parameter is a new key)."""
    archives = {}
    for archive, _ in members:
        if archive not in archives:
            st = Path(archive).stat()
            archives[archive] = [Path(archive).name, st.st_size, st.st_mtime_ns]
    described = [[archives[a], m] for a, m in members]
    key = hashlib.sha256(json.dumps([described, frames, centre, PARSED_CACHE_VERSION]).encode()).hexdigest()[:32]
    return Path(cache_dir) / f"{key}.npz"


def _load_parsed(path: Path, n: int, frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A cached block when it is readable and has the expected shapes (never pickles), else None."""
    try:
        with np.load(path, allow_pickle=False) as f:
            xyz, mask, lengths = f["xyz"], f["body_mask"], f["n_frames"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if (
        xyz.shape != (n, frames, MAX_BODIES, JOINTS, 3)
        or mask.shape != (n, frames, MAX_BODIES)
        or lengths.shape != (n,)
    ):
        return None
    return xyz, mask, lengths


def skeleton_block(
    members: list[tuple[str, str]], frames: int, centre: bool, cache_dir: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse the ``(archive, member)`` skeleton files of one block: ``(xyz, body_mask, n_frames)``.

    With ``cache_dir`` the result is kept there (atomic write) and a later call for the same block reads it back
    instead of parsing again.
    """
    cache = parsed_block_path(cache_dir, members, frames, centre) if cache_dir is not None else None
    if cache is not None and cache.is_file():
        kept = _load_parsed(cache, len(members), frames)
        if kept is not None:
            return kept
    xyz = np.zeros((len(members), frames, MAX_BODIES, JOINTS, 3), dtype=np.float32)
    mask = np.zeros((len(members), frames, MAX_BODIES), dtype=bool)
    lengths = np.zeros(len(members), dtype=np.int32)
    for i, (archive, member) in enumerate(members):
        with open_member(Path(archive), member) as fh:
            data = fh.read()
        s = read_skeleton(data, f"{archive}:{member}", frames=frames, centre=centre)
        xyz[i], mask[i], lengths[i] = s.xyz, s.body_mask, s.n_frames
    if cache is not None:
        with atomic_file(cache, "wb") as fh:
            np.savez(fh, xyz=xyz, body_mask=mask, n_frames=lengths)
    return xyz, mask, lengths


def video_block(members: list[tuple[str, str] | None], frames: int, size: int) -> np.ndarray:
    """Decode the ``(archive, member)`` videos of one block (``None``: no video, zeros): ``(B, T', 3, size, size)``."""
    out = np.zeros((len(members), frames, 3, size, size), dtype=np.uint8)
    for i, item in enumerate(members):
        if item is None:
            continue
        archive, member = item
        with open_member(Path(archive), member) as fh:
            out[i] = read_video(fh, f"{archive}:{member}", frames=frames, size=size)
    return out


# ---------------------------------------------------------------------------------------------- the datasets


class NTUBase(DatasetBuilder):
    """Shared by the four NTU datasets; subclasses set the name, the archives, the protocols and the modalities."""

    version = "v1"
    structure = "samples"
    license = "NTU RGB+D release agreement (research use; registration at ROSE Lab)"
    homepage = REGISTER_URL
    citation = (
        "A. Shahroudy, J. Liu, T.-T. Ng, G. Wang. NTU RGB+D: A Large Scale Dataset for 3D Human Activity Analysis. "
        "CVPR 2016. J. Liu, A. Shahroudy, M. Perez, G. Wang, L.-Y. Duan, A. C. Kot. NTU RGB+D 120: A Large-Scale "
        "Benchmark for 3D Human Activity Understanding. TPAMI 42(10), 2019."
    )
    n_classes: ClassVar[int] = 60
    skeleton_zips: ClassVar[tuple[str, ...]] = (SKELETON_ZIP_60,)
    setups: ClassVar[tuple[int, ...]] = tuple(range(1, 18))
    protocols: ClassVar[tuple[str, ...]] = ("xsub", "xview")
    missing_file: ClassVar[Path] = MISSING_60_FILE
    parts: ClassVar[bool] = False
    #: samples per dask task
    block: ClassVar[int] = 64

    def default_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "protocol": self.protocols[0],
            "split": {"val_fraction": 0.1, "seed": 0, "val_rule": "seeded subject-disjoint part of training"},
            "skeleton": {
                "frames": 64,
                "resample": "uniform",
                "bodies": "two most active (summed joint variance)",
                "centre": True,
                "centre_on": "spine middle joint of body 1 in its first tracked frame",
            },
            "exclude_missing": True,
            "scaling": {"method": "none"},
        }
        if not self.parts:
            params["rgb"] = {"use": "auto", "frames": 8, "size": VIDEO_SIZE, "resize": "whole frame, bilinear"}
        return params

    def modalities(self, params: dict[str, Any]) -> list[ModalitySpec]:
        t = int(params["skeleton"]["frames"])
        coords = ("x", "y", "z")
        if self.parts:
            return [
                ModalitySpec(name, "skeleton", (t, MAX_BODIES, len(joints), 3), coords)
                for name, joints in BODY_PARTS.items()
            ]
        out = [ModalitySpec("skeleton", "skeleton", (t, MAX_BODIES, JOINTS, 3), coords)]
        if params["rgb"]["use"] is True:
            rgb = params["rgb"]
            size = int(rgb["size"])
            out.append(
                ModalitySpec(
                    "rgb", "video", (int(rgb["frames"]), 3, size, size), ("red", "green", "blue"), storage_dtype="uint8"
                )
            )
        return out

    def tasks(self, params: dict[str, Any]) -> list[TaskInfo]:
        return [TaskInfo("action", "multiclass", ACTIONS[: self.n_classes])]

    def source_info(self) -> dict[str, Any]:
        info = super().source_info()
        info["files"] = [{"name": z, "manual": True} for z in self.skeleton_zips]
        return info

    # -------------------------------------------------------------- raw files

    def _raw_folder(self, ctx: PrepareContext) -> Path:
        if ctx.raw_dir is not None:
            return Path(ctx.raw_dir)
        return Path(ctx.download_dir) if ctx.download_dir else local_raw_dir(resolve_root(ctx.root), self.name)

    def _missing_message(self, folder: Path) -> str:
        rgb = (
            ""
            if self.parts
            else f" (and for video nturgbd_rgb_s{self.setups[0]:03d}.zip … _s{self.setups[-1]:03d}.zip)"
        )
        return (
            f"{self.name}: NTU RGB+D is registration-only: request access at {REGISTER_URL}, download "
            f"{' and '.join(self.skeleton_zips)}{rgb} and pass the folder holding them with --raw DIR "
            f"(looked in {folder})"
        )

    def rgb_zips(self, folder: Path) -> list[Path]:
        """The placed RGB archives of this dataset's setups."""
        return [
            folder / f"nturgbd_rgb_s{s:03d}.zip"
            for s in self.setups
            if (folder / f"nturgbd_rgb_s{s:03d}.zip").is_file()
        ]

    def resolve_params(self, params: dict[str, Any], raw_dir: Path | None, download_dir: Path) -> dict[str, Any]:
        """``rgb.use = auto`` → True when at least one RGB archive of the dataset is placed, else False."""
        if params.get("protocol") not in self.protocols:
            raise ModalbenchError(
                f"{self.name}: parameter protocol must be one of {', '.join(self.protocols)} (got {params.get('protocol')!r})"
            )
        if self.parts:
            return params
        use = params["rgb"]["use"]
        if use not in ("auto", True, False):
            raise ModalbenchError(f"{self.name}: parameter rgb.use must be auto, true or false (got {use!r})")
        if use != "auto":
            return params
        folder = Path(raw_dir) if raw_dir is not None else Path(download_dir)
        return {**params, "rgb": {**params["rgb"], "use": bool(self.rgb_zips(folder))}}

    def _verified(self, paths: list[Path], ctx: PrepareContext) -> list[dict[str, Any]]:
        """Size and sha256 of each placed archive, checked against the first use (``placed-sha256.json``)."""
        record_dir = local_raw_dir(resolve_root(ctx.root), self.name)
        record_path = record_dir / "placed-sha256.json"
        known = read_json(record_path) if record_path.is_file() else {}
        out = []
        for p in paths:
            seen = known.get(p.name) or {}
            file = RemoteFile(
                name=p.name,
                urls=(),
                sha256=seen.get("sha256"),
                size=seen.get("size"),
                manual=f"request access at {REGISTER_URL} and download {p.name}",
            )
            res = verify_file(p, file, ctx.verification)
            entry = {"name": p.name, "size": p.stat().st_size, "sha256": res.sha256, "verification": res.verification}
            out.append(entry)
            known.setdefault(p.name, {"size": entry["size"], "sha256": res.sha256})
        record_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(record_path, known)
        return out

    # -------------------------------------------------------------- load

    def load(self, params: dict[str, Any], ctx: PrepareContext) -> list[SampleSplit]:
        folder = self._raw_folder(ctx)
        params = self.resolve_params(params, ctx.raw_dir, folder)
        zips = [folder / z for z in self.skeleton_zips]
        absent = [z for z in zips if not z.is_file()]
        if absent:
            raise ModalbenchError(self._missing_message(folder))
        rgb_zips = self.rgb_zips(folder) if not self.parts and params["rgb"]["use"] else []
        ctx.provenance["files"] = self._verified(zips + rgb_zips, ctx)
        # skeleton members of every archive, in name order
        found: dict[str, tuple[str, str]] = {}
        for z in zips:
            for member in iter_members(z):
                m = SKELETON_MEMBER_RE.search(member)
                if m and m.group(1) not in found:
                    found[m.group(1)] = (str(z), member)
        names = sorted(n for n in found if n[:4] in {f"S{s:03d}" for s in self.setups})
        missing = read_missing_list(self.missing_file)
        excluded = [n for n in names if n in missing] if params["exclude_missing"] else []
        names = [n for n in names if n not in set(excluded)]
        if not names:
            raise ModalbenchError(
                f"{self.name}: no SsssCcccPpppRrrrAaaa.skeleton member in {', '.join(map(str, zips))}"
            )
        codes = np.array([parse_sample_name(n) for n in names], dtype=np.int16)
        too_high = codes[:, 4] > self.n_classes
        if too_high.any():
            raise ModalbenchError(
                f"{self.name}: sample {names[int(np.argmax(too_high))]} has action > {self.n_classes}"
            )
        protocol = params["protocol"] if not (self.n_classes == 120 and params["protocol"] == "xsub") else "xsub120"
        split_of, val_subjects = assign_splits(
            codes, protocol, float(params["split"]["val_fraction"]), int(params["split"]["seed"])
        )
        videos: dict[str, tuple[str, str]] = {}
        for z in rgb_zips:
            for member in iter_members(z):
                m = RGB_MEMBER_RE.search(member)
                if m:
                    videos.setdefault(m.group(1), (str(z), member))
        ctx.provenance.update(
            {
                "samples": len(names),
                "excluded_missing_skeletons": len(excluded),
                "missing_list": self.missing_file.name,
                "protocol": params["protocol"],
                "val_subjects": val_subjects,
            }
        )
        if rgb_zips:
            ctx.provenance["videos"] = sum(n in videos for n in names)
        out = []
        for part in ("train", "val", "test"):
            idx = np.flatnonzero(split_of == part)
            if not len(idx):
                raise ModalbenchError(f"{self.name}: protocol {params['protocol']} leaves the {part} split empty")
            sel = [names[i] for i in idx]
            # only the training blocks are computed twice (statistics, then the write): they are kept after parsing
            cache_dir = str(Path(ctx.download_dir) / PARSED_DIR) if ctx.download_dir and part == "train" else None
            out.append(self._split(part, sel, codes[idx], found, videos, params, bool(rgb_zips), cache_dir))
        return out

    def _split(
        self,
        part: str,
        names: list[str],
        codes: np.ndarray,
        found: dict[str, tuple[str, str]],
        videos: dict[str, tuple[str, str]],
        params: dict[str, Any],
        with_rgb: bool,
        cache_dir: str | None = None,
    ) -> SampleSplit:
        sk = params["skeleton"]
        frames, centre = int(sk["frames"]), bool(sk["centre"])
        xyz_parts, mask_parts, len_parts, rgb_parts = [], [], [], []
        for a in range(0, len(names), self.block):
            chunk = names[a : a + self.block]
            n = len(chunk)
            task = dask.delayed(skeleton_block, pure=True, nout=3)([found[x] for x in chunk], frames, centre, cache_dir)
            xyz_parts.append(da.from_delayed(task[0], (n, frames, MAX_BODIES, JOINTS, 3), dtype=np.float32))
            mask_parts.append(da.from_delayed(task[1], (n, frames, MAX_BODIES), dtype=bool))
            len_parts.append(da.from_delayed(task[2], (n,), dtype=np.int32))
            if with_rgb:
                rgb = params["rgb"]
                t2, size = int(rgb["frames"]), int(rgb["size"])
                vtask = dask.delayed(video_block, pure=True)([videos.get(x) for x in chunk], t2, size)
                rgb_parts.append(da.from_delayed(vtask, (n, t2, 3, size, size), dtype=np.uint8))
        xyz = da.concatenate(xyz_parts, axis=0)
        labels = {"action": (codes[:, 4].astype(np.int64) - 1)}
        if self.parts:
            inputs = {name: xyz[:, :, :, list(joints)] for name, joints in BODY_PARTS.items()}
            available = None
        else:
            inputs = {"skeleton": xyz}
            available = None
            if with_rgb:
                inputs["rgb"] = da.concatenate(rgb_parts, axis=0)
                has_video = np.array([x in videos for x in names], dtype=bool)
                available = np.stack([np.ones(len(names), dtype=bool), has_video], axis=1)
        extras = {
            "ntu_code": (("ntu_field",), codes.astype(np.int16)),
            "n_frames": ((), da.concatenate(len_parts, axis=0)),
            "body_mask": (("skeleton_time", "body"), da.concatenate(mask_parts, axis=0)),
        }
        return SampleSplit(part, inputs, labels, available, extras=extras)


@register_dataset
class NTU60(NTUBase):
    name = "ntu60"
    description = "NTU RGB+D 60: 60 actions, Kinect v2 skeletons (2 bodies x 25 joints) + optional RGB clips"


@register_dataset
class NTU120(NTUBase):
    name = "ntu120"
    description = "NTU RGB+D 120: 120 actions, Kinect v2 skeletons (2 bodies x 25 joints) + optional RGB clips"
    n_classes = 120
    skeleton_zips = (SKELETON_ZIP_60, SKELETON_ZIP_120)
    setups = tuple(range(1, 33))
    protocols = ("xsub", "xset")
    missing_file = MISSING_120_FILE


@register_dataset
class NTU60Parts(NTU60):
    name = "ntu60-parts"
    description = "NTU RGB+D 60 skeletons as five body-part modalities (modalbench protocol)"
    parts = True


@register_dataset
class NTU120Parts(NTU120):
    name = "ntu120-parts"
    description = "NTU RGB+D 120 skeletons as five body-part modalities (modalbench protocol)"
    parts = True
