"""``avmnist``: audio-visual MNIST, the MFAS protocol (Pérez-Rúa et al., CVPR 2019; Vielzeuf et al. 2018).

Two modalities per sample: ``image`` (1×28×28 MNIST digit with 75 % of its energy removed) and ``audio`` (1×112×112
log spectrogram of a spoken digit of the same class from the Free Spoken Digit Dataset, mixed with ESC-50 noise).
Split: 55,000 train / 5,000 validation (the last 5,000 training pairs) / 10,000 test. Two ways to build it, recorded
as ``params.source`` and in the version: ``v1`` (canonical) and ``v1-regen`` (regenerate) are separate stores
and leaderboard keys with different fingerprints, so the leaderboard never mixes them:

``canonical`` — the pre-built ``avmnist.tar.gz`` of the MFAS authors, placed with ``--raw DIR`` (no public checksum;
there is no download): ``DIR/avmnist.tar.gz`` with members ``[avmnist/]image/{train,test}_data.npy`` (N×784),
``[avmnist/]audio/{train,test}_data.npy`` (N×112×112) and ``[avmnist/]{train,test}_labels.npy``, or the same files
already extracted under ``DIR/avmnist/``. The six arrays are extracted once to ``<root>/avmnist/raw/avmnist.npy/``
and memory-mapped; ``.npy`` files are read with ``allow_pickle=False``.

``regenerate`` (the default when no archive is placed) — built from its sources under ``--raw DIR``:

* ``DIR/mnist/``: the four MNIST idx files (as for ``mnist-halves``; fetched from its mirrors when absent);
  images keep the leading principal components (fitted on the training images) that carry ``image.pca_energy``
  (25 %) of the variance, reconstructed to 28×28 (MFAS: "75 % of the energy removed");
* ``DIR/fsdd/recordings/{digit}_{speaker}_{index}.wav`` (FSDD, 8 kHz mono): speaker-disjoint train/test
  (``audio.speakers``); each recording cropped / zero-padded to ``audio.duration_s``. Without that folder: the
  release archive of tag v1.0.9 (``DIR/free-spoken-digit-dataset-1.0.9.tar.gz``, or downloaded from GitHub when no
  ``--raw`` is given), extracted once to ``<root>/avmnist/raw/fsdd-v1.0.9/``; its recordings must match the tag's
  (manifest sha256, :data:`FSDD_MANIFEST_SHA256`);
* ``DIR/esc50/audio/*.wav`` and ``DIR/esc50/meta/esc50.csv`` (ESC-50 layout; ``audio.noise = "none"`` builds
  without noise): one seeded ``duration_s`` segment per clip, resampled to 8 kHz (polyphase), train/test clips by
  ``fold``; mixed at ``audio.snr_db``. Without that folder: the repository archive (``DIR/ESC-50-master.zip`` or
  downloaded), extracted once to ``<root>/avmnist/raw/esc50/``;
* the audio files are recorded by content in ``source.provenance.audio_sources`` (count and the sha256 of the sorted
  ``name sha256`` manifest), so other recordings give another fingerprint and the same ones the same, whether
  placed or extracted from an archive (whose own sha256 the download step checks or records);
* spectrogram: torchaudio ``Spectrogram(n_fft=222, hop_length=72, window=hann, power=2, center=True)`` of 8,000
  samples = 112 frequencies × 112 frames, then ``10·log10(max(power, 1e-10))``; min–max scaled with train stats;
* pairing: each MNIST image of class k gets a recording of digit k from its split's speakers and a noise segment
  from its split's folds, drawn with ``pairing.seed``.

WAVs are decoded (``scipy.io.wavfile``) inside dask tasks, in blocks, and the spectrograms are computed per block
of ``block`` samples, so the store is written without holding all 70,000 spectrograms (3.5 GB) in memory.
"""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import sys
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import dask
import dask.array as da
import numpy as np

from modalbench.atomic import atomic_dir
from modalbench.datasets import DatasetBuilder, PrepareContext, TaskInfo, register_dataset
from modalbench.errors import ModalbenchError
from modalbench.meta import ModalitySpec
from modalbench.paths import local_raw_dir, resolve_root
from modalbench.preprocess.types import SampleSplit

from .archive import stream_members
from .download import RemoteFile, fetch_for
from .mnist_halves import MnistHalves

ARCHIVE = "avmnist.tar.gz"
CANONICAL_MEMBERS = (
    "image/train_data.npy",
    "image/test_data.npy",
    "audio/train_data.npy",
    "audio/test_data.npy",
    "train_labels.npy",
    "test_labels.npy",
)
SOURCES = ("auto", "canonical", "regenerate")
FSDD_RE = re.compile(r"^(?P<digit>\d)_(?P<speaker>[A-Za-z]+)_(?P<index>\d+)\.wav$")
SAMPLE_RATE = 8000
SPEC = 112
#: FSDD release used by ``source=regenerate`` (github.com/Jakobovski/free-spoken-digit-dataset, tag v1.0.9: 5 speakers,
#: 2,500 recordings; v1.0.10 adds the speaker lucas). GitHub publishes no checksum of its generated archives (and their
#: bytes may change when GitHub recompresses them), so the recordings are checked by content: the sha256 of the
#: manifest ``"<file name> <sha256 of the file>\n"`` over the recordings sorted by name (computed from the tag's git
#: tree), see :func:`recordings_manifest_sha256`.
FSDD_TAG = "v1.0.9"
FSDD_REMOTE = RemoteFile(
    name="free-spoken-digit-dataset-1.0.9.tar.gz",
    urls=("https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.9.tar.gz",),
    manual="github.com/Jakobovski/free-spoken-digit-dataset/releases/tag/v1.0.9 (Source code, tar.gz)",
)
FSDD_MANIFEST_SHA256 = "bcbeff5e932d8044c568f9328797022709156a65c8e084fab28071460f35e496"
#: ESC-50 as its README links it (the repository's archive; no published checksum: the archive's sha256 and the clips'
#: manifest sha256 are recorded in the store, trust on first use)
ESC50_REMOTE = RemoteFile(
    name="ESC-50-master.zip",
    urls=("https://github.com/karoldvl/ESC-50/archive/master.zip",),
    manual="github.com/karolpiczak/ESC-50 (Code > Download ZIP)",
)


# ---------------------------------------------------------------------------------------------- audio pieces


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """``(rate, mono float32 in [-1, 1])`` of a PCM WAV file; a bad file is a one-line error naming it."""
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(path)
    except (ValueError, OSError, EOFError) as exc:
        raise ModalbenchError(f"{path}: not a readable WAV file ({exc})") from exc
    x = np.asarray(data)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if data.dtype.kind == "i":
        x = x.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    elif data.dtype == np.uint8:
        x = (x.astype(np.float32) - 128.0) / 128.0
    return int(rate), x.astype(np.float32, copy=False)


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` samples of ``x``, zero-padded at the end when shorter."""
    out = np.zeros(n, dtype=np.float32)
    out[: min(n, len(x))] = x[:n]
    return out


def decode_speech(paths: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """FSDD recordings → ``(len(paths), n)`` float32 (cropped/padded) and their mean power before padding."""
    out = np.zeros((len(paths), n), dtype=np.float32)
    power = np.zeros(len(paths), dtype=np.float64)
    for i, p in enumerate(paths):
        rate, x = read_wav(Path(p))
        if rate != SAMPLE_RATE:
            raise ModalbenchError(f"{p}: sample rate {rate} Hz, expected {SAMPLE_RATE} (FSDD recordings are 8 kHz)")
        x = x[:n]
        out[i, : len(x)] = x
        power[i] = float(np.mean(x.astype(np.float64) ** 2)) if len(x) else 0.0
    return out, power


def decode_noise(paths: list[str], offsets: list[float], n: int) -> np.ndarray:
    """One ``n``-sample 8 kHz segment per ESC-50 clip, starting at ``offset`` (a fraction of the free length)."""
    from math import gcd

    from scipy.signal import resample_poly

    out = np.zeros((len(paths), n), dtype=np.float32)
    for i, (p, frac) in enumerate(zip(paths, offsets, strict=True)):
        rate, x = read_wav(Path(p))
        if rate != SAMPLE_RATE:
            g = gcd(SAMPLE_RATE, rate)
            x = resample_poly(x, SAMPLE_RATE // g, rate // g).astype(np.float32)
        start = int(frac * max(0, len(x) - n))
        out[i] = fit_length(x[start:], n)
    return out


def mix(speech: np.ndarray, speech_power: np.ndarray, noise: np.ndarray | None, snr_db: float) -> np.ndarray:
    """``speech + g·noise`` per row with ``g`` giving ``snr_db`` against the speech's power (no noise: speech)."""
    if noise is None:
        return speech
    pn = np.mean(noise.astype(np.float64) ** 2, axis=1)
    gain = np.sqrt(np.divide(speech_power, pn * 10.0 ** (snr_db / 10.0), out=np.zeros_like(pn), where=pn > 0))
    return (speech + gain[:, None].astype(np.float32) * noise).astype(np.float32)


def log_spectrogram(audio: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """``(B, n)`` waveforms → ``(B, 1, F, T)`` float32 ``10·log10(max(|STFT|², floor))`` (torchaudio)."""
    import torch
    import torchaudio

    transform = torchaudio.transforms.Spectrogram(
        n_fft=int(spec["n_fft"]),
        hop_length=int(spec["hop_length"]),
        win_length=int(spec["n_fft"]),
        power=2.0,
        center=True,
        window_fn=torch.hann_window,
    )
    with torch.no_grad():
        power = transform(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)))
        out = 10.0 * torch.log10(torch.clamp(power, min=float(spec["floor"])))
    return out.numpy().astype(np.float32)[:, None]


def spectrogram_block(
    speech: np.ndarray,
    speech_power: np.ndarray,
    noise: np.ndarray | None,
    speech_idx: np.ndarray,
    noise_idx: np.ndarray | None,
    snr_db: float,
    spec: dict[str, Any],
) -> np.ndarray:
    """The audio modality of one block of pairs: pick, mix, spectrogram."""
    s = speech[speech_idx]
    n = None if noise is None or noise_idx is None else noise[noise_idx]
    return log_spectrogram(mix(s, speech_power[speech_idx], n, snr_db), spec)


# ---------------------------------------------------------------------------------------------- image pieces


def pca_basis(train: np.ndarray, energy: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean, the leading components carrying ``energy`` of the variance (``(784, k)``) and the energy kept."""
    x = train.reshape(len(train), -1).astype(np.float64)
    mean = x.mean(axis=0)
    xc = x - mean
    cov = xc.T @ xc / max(1, len(x) - 1)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1]
    vals, vecs = np.clip(vals[order], 0.0, None), vecs[:, order]
    share = np.cumsum(vals) / vals.sum()
    k = int(np.searchsorted(share, energy - 1e-12) + 1)
    return mean, vecs[:, :k], float(share[k - 1])


def pca_reconstruct(images: np.ndarray, mean: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Images ``(N, …)`` (784 pixels each) projected on ``basis`` and back, same shape, float32."""
    x = images.reshape(len(images), -1).astype(np.float64) - mean
    rec = (x @ basis) @ basis.T + mean
    return rec.astype(np.float32).reshape(images.shape)


# ---------------------------------------------------------------------------------------------- audio sources


def recordings_manifest_sha256(files: list[Path]) -> str:
    """sha256 of ``"<name> <sha256 of the file>\\n"`` over ``files`` sorted by name (independent of the folder and
    of how an archive was compressed)."""
    h = hashlib.sha256()
    for p in sorted(files, key=lambda q: q.name):
        digest = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        h.update(f"{p.name} {digest.hexdigest()}\n".encode())
    return h.hexdigest()


def extract_flat(archive: Path, dest: Path, layout: dict[str, str]) -> Path:
    """Members of ``archive`` matching each glob of ``layout`` (sub-folder -> glob on the member name) written as
    ``dest/<sub-folder>/<base name>``, once: ``dest/SOURCE`` holds the archive's size and mtime, and an unchanged
    archive is not read again. The folder appears atomically; member base names are plain file names only."""
    stamp = f"{archive.name} {archive.stat().st_size} {archive.stat().st_mtime_ns}"
    if (dest / "SOURCE").is_file() and (dest / "SOURCE").read_text() == stamp:
        return dest
    with atomic_dir(dest) as tmp:
        for sub, pattern in layout.items():
            (tmp / sub).mkdir(parents=True, exist_ok=True)
            n = 0
            for name, stream in stream_members(archive, pattern):
                base = PurePosixPath(name).name
                if base in ("", ".", "..") or "\\" in base:
                    raise ModalbenchError(f"{archive}: member {name!r} has no usable file name")
                with open(tmp / sub / base, "wb") as fh:
                    shutil.copyfileobj(stream, fh, 1 << 20)
                n += 1
            if not n:
                raise ModalbenchError(f"{archive}: no member matches {pattern} (expected the {sub}/ folder)")
        (tmp / "SOURCE").write_text(stamp)
    return dest


# ---------------------------------------------------------------------------------------------- the dataset


@register_dataset
class AVMnist(DatasetBuilder):
    name = "avmnist"
    version = "v1"
    description = (
        "Audio-visual MNIST (MFAS protocol): 28x28 digit images with 75% of the energy removed + 112x112 "
        "spectrograms of spoken digits (FSDD) in ESC-50 noise"
    )
    license = "MNIST CC BY-SA 3.0; FSDD CC BY-SA 4.0; ESC-50 CC BY-NC 3.0"
    homepage = "https://github.com/slyviacassell/_MFAS/tree/master/models"
    citation = (
        "J.-M. Pérez-Rúa, V. Vielzeuf, S. Pateux, M. Baccouche, F. Jurie. MFAS: Multimodal Fusion "
        "Architecture Search. CVPR 2019."
    )
    structure = "samples"
    #: the version of a ``source=regenerate`` store (``version`` = "v1" is the canonical archive's): a rebuilt AV-MNIST
    #: (FSDD instead of TIDIGITS) is another dataset version, so the leaderboard keys ``avmnist@v1`` and
    #: ``avmnist@v1-regen`` never rank the two together, and both stores can sit under one root
    regenerated_version: ClassVar[str] = "v1-regen"
    #: samples per spectrogram task
    block = 2048
    #: WAV files decoded per dask task
    decode_batch = 500
    #: extra keyword arguments of :func:`.download.fetch` (retries, timeout, backoff)
    fetch_options: ClassVar[dict[str, Any]] = {}
    fsdd_remote: ClassVar[RemoteFile] = FSDD_REMOTE
    #: manifest sha256 of the FSDD_TAG recordings (None: not checked)
    fsdd_manifest_sha256: ClassVar[str | None] = FSDD_MANIFEST_SHA256
    esc50_remote: ClassVar[RemoteFile] = ESC50_REMOTE

    def default_params(self) -> dict[str, Any]:
        return {
            "source": "auto",
            "split": {"val_size": 5000, "val_from": "end of train"},
            "image": {"pca_energy": 0.25, "pca_fit": "train split"},
            "audio": {
                "speakers": {"train": ["jackson", "nicolas", "theo"], "test": ["yweweler"]},
                "duration_s": 1.0,
                "crop": "start, zero-padded",
                "noise": "esc50",
                "noise_folds": {"train": [1, 2, 3, 4], "test": [5]},
                "snr_db": 10.0,
                "spectrogram": {
                    "n_fft": 222,
                    "hop_length": 72,
                    "window": "hann",
                    "power": 2.0,
                    "center": True,
                    "log": "10*log10(max(power, floor))",
                    "floor": 1e-10,
                },
            },
            "pairing": {"seed": 0, "rule": "same class, uniform with replacement"},
            "scaling": {"method": "minmax", "range": [0.0, 1.0], "clip": False},
        }

    def modalities(self, params: dict[str, Any]) -> list[ModalitySpec]:
        return [
            ModalitySpec("image", "image", (1, 28, 28), ("grey",)),
            ModalitySpec("audio", "spectrogram", (1, SPEC, SPEC), ("log-power",)),
        ]

    def tasks(self, params: dict[str, Any]) -> list[TaskInfo]:
        return [TaskInfo("digit", "multiclass", tuple(str(d) for d in range(10)))]

    def source_info(self) -> dict[str, Any]:
        info = super().source_info()
        info["urls"] = [
            self.homepage,
            "https://github.com/Jakobovski/free-spoken-digit-dataset",
            "https://github.com/karolpiczak/ESC-50",
            *MnistHalves.mirrors,
        ]
        return info

    # -------------------------------------------------------------- which source

    def versions(self) -> tuple[str, ...]:
        """``v1`` (canonical archive) first, then ``v1-regen`` (rebuilt from MNIST, FSDD and ESC-50)."""
        return (self.version, self.regenerated_version)

    def version_for(self, params: dict[str, Any]) -> str:
        """``v1`` for ``source=canonical``, ``v1-regen`` for ``source=regenerate`` (``auto`` is resolved first)."""
        return self.version if params.get("source") == "canonical" else self.regenerated_version

    @staticmethod
    def canonical_location(raw_dir: Path | None) -> Path | None:
        """``DIR/avmnist.tar.gz`` or the extracted ``DIR/avmnist/`` when present, else None."""
        if raw_dir is None:
            return None
        for p in (Path(raw_dir) / ARCHIVE, Path(raw_dir) / "avmnist"):
            if p.exists():
                return p
        return None

    def resolve_params(self, params: dict[str, Any], raw_dir: Path | None, download_dir: Path) -> dict[str, Any]:
        """``source=auto`` → ``canonical`` when the pre-built archive is placed, else ``regenerate``."""
        source = params.get("source")
        if source not in SOURCES:
            raise ModalbenchError(f"avmnist: parameter source must be one of {', '.join(SOURCES)} (got {source!r})")
        if source != "auto":
            return params
        found = self.canonical_location(raw_dir) or self.canonical_location(download_dir)
        return {**params, "source": "canonical" if found is not None else "regenerate"}

    def load(self, params: dict[str, Any], ctx: PrepareContext) -> list[SampleSplit]:
        download = ctx.download_dir or Path(ctx.root) / self.name / "raw"
        params = self.resolve_params(params, ctx.raw_dir, download)
        ctx.provenance["source"] = params["source"]
        if params["source"] == "canonical":
            return self.load_canonical(params, ctx, download)
        return self.load_regenerated(params, ctx)

    # -------------------------------------------------------------- canonical

    def load_canonical(self, params: dict[str, Any], ctx: PrepareContext, download: Path) -> list[SampleSplit]:
        where = self.canonical_location(ctx.raw_dir) or self.canonical_location(download)
        if where is None:
            d = ctx.raw_dir or download
            raise ModalbenchError(
                f"avmnist source=canonical: put {ARCHIVE} (members image/, audio/, *_labels.npy) "
                f"or its extracted folder avmnist/ in {d} and pass --raw {d}"
            )
        folder = self._extract(where, download) if where.is_file() else where
        arrays = {m: self._open_npy(folder, m) for m in CANONICAL_MEMBERS}
        ctx.provenance["files"] = [
            {"name": m, "shape": list(a.shape), "dtype": str(a.dtype)} for m, a in arrays.items()
        ]
        val = int(params["split"]["val_size"])
        out = []
        for part in ("train", "test"):
            img, aud, lab = (
                arrays[f"image/{part}_data.npy"],
                arrays[f"audio/{part}_data.npy"],
                arrays[f"{part}_labels.npy"],
            )
            n = len(lab)
            if len(img) != n or len(aud) != n:
                raise ModalbenchError(f"{folder}: {part} has {len(img)} images, {len(aud)} spectrograms, {n} labels")
            if img.ndim != 2 or img.shape[1] != 784:
                raise ModalbenchError(f"{folder}/image/{part}_data.npy: shape {img.shape}, expected (N, 784)")
            if tuple(aud.shape[1:]) not in ((SPEC, SPEC), (1, SPEC, SPEC)):
                raise ModalbenchError(f"{folder}/audio/{part}_data.npy: shape {aud.shape}, expected (N, 112, 112)")
            x_img = da.from_array(img, chunks=(self.block, 784)).astype(np.float32).reshape(n, 1, 28, 28)
            x_aud = da.from_array(aud, chunks=(self.block, *aud.shape[1:])).astype(np.float32).reshape(n, 1, SPEC, SPEC)
            y = np.asarray(lab).reshape(-1).astype(np.int64)
            if part == "train":
                if not 0 < val < n:
                    raise ModalbenchError(f"avmnist: parameter split.val_size must be in 1..{n - 1} (got {val})")
                out.append(SampleSplit("train", {"image": x_img[:-val], "audio": x_aud[:-val]}, {"digit": y[:-val]}))
                out.append(SampleSplit("val", {"image": x_img[-val:], "audio": x_aud[-val:]}, {"digit": y[-val:]}))
            else:
                out.append(SampleSplit("test", {"image": x_img, "audio": x_aud}, {"digit": y}))
        return out

    @staticmethod
    def _open_npy(folder: Path, member: str) -> np.ndarray:
        path = folder / member
        if not path.is_file():
            raise ModalbenchError(f"{path}: missing (avmnist needs {', '.join(CANONICAL_MEMBERS)})")
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise ModalbenchError(f"{path}: not a plain numeric .npy array ({exc})") from exc

    @staticmethod
    def _extract(archive: Path, download: Path) -> Path:
        """The six arrays of the archive under ``<raw>/avmnist.npy/`` (extracted once, atomically)."""
        dest = Path(download) / "avmnist.npy"
        stamp = f"{archive.stat().st_size}-{archive.stat().st_mtime_ns}"
        if (dest / "SOURCE").is_file() and (dest / "SOURCE").read_text() == stamp:
            return dest
        try:
            tf = tarfile.open(archive, "r:*")
        except (tarfile.TarError, OSError) as exc:
            raise ModalbenchError(f"{archive}: not a readable tar archive ({exc})") from exc
        with tf, atomic_dir(dest) as tmp:
            names = {m.name: m for m in tf.getmembers() if m.isfile()}
            for member in CANONICAL_MEMBERS:
                hit = [n for n in names if n == member or n.endswith("/" + member)]
                if not hit:
                    raise ModalbenchError(f"{archive}: member {member} not found (expected [avmnist/]{member})")
                (tmp / member).parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(names[sorted(hit, key=len)[0]])
                assert src is not None
                with src, open(tmp / member, "wb") as fh:
                    shutil.copyfileobj(src, fh, 1 << 20)
            (tmp / "SOURCE").write_text(stamp)
        return dest

    # -------------------------------------------------------------- regenerate

    def load_regenerated(self, params: dict[str, Any], ctx: PrepareContext) -> list[SampleSplit]:
        raw = Path(ctx.raw_dir) if ctx.raw_dir is not None else None
        ap = params["audio"]
        val = int(params["split"]["val_size"])
        # images: MNIST from DIR/mnist/ (or downloaded), 75 % of the energy removed
        mnist = MnistHalves()
        mctx = PrepareContext(
            root=ctx.root,
            raw_dir=raw / "mnist" if raw is not None else None,
            download_dir=local_raw_dir(resolve_root(ctx.root), mnist.name),
            verification=ctx.verification,
            progress=ctx.progress,
        )
        record: list[dict[str, Any]] = []
        train_x, train_y = mnist.read_pair("train_images", "train_labels", mctx, record)
        test_x, test_y = mnist.read_pair("test_images", "test_labels", mctx, record)
        if not 0 < val < len(train_x):
            raise ModalbenchError(f"avmnist: parameter split.val_size must be in 1..{len(train_x) - 1} (got {val})")
        mean, basis, kept = pca_basis(train_x[:-val], float(params["image"]["pca_energy"]))
        ctx.provenance.update(
            {"mnist_files": record, "pca": {"components": int(basis.shape[1]), "energy_kept": round(kept, 6)}}
        )
        # audio sources: placed under --raw DIR, or the release archives (downloaded, or placed in DIR)
        if ap["noise"] not in ("esc50", "none"):
            raise ModalbenchError(f"avmnist: parameter audio.noise must be esc50 or none (got {ap['noise']!r})")
        download = Path(ctx.download_dir) if ctx.download_dir is not None else Path(ctx.root) / self.name / "raw"
        speech_folder, fsdd_archive = self.fsdd_source(raw, ctx, download)
        speech_files, speech_meta = self._fsdd_files(speech_folder)
        # content only (not where the files came from): the same recordings give the same fingerprint
        sources: dict[str, Any] = {"fsdd": self.check_fsdd(speech_files, fsdd_archive, ctx.verification)}
        noise_files = None
        if ap["noise"] == "esc50":
            noise_files = self._esc50_files(self.esc50_source(raw, ctx, download))
            clips = [f for f, _ in noise_files]
            sources["esc50"] = {"n": len(clips), "files_sha256": recordings_manifest_sha256(clips)}
        ctx.provenance["audio_sources"] = sources
        n = int(round(float(ap["duration_s"]) * SAMPLE_RATE))
        rng = np.random.Generator(np.random.PCG64(int(params["pairing"]["seed"])))
        speech, power = self._decoded_speech([str(p) for p in speech_files], n)
        noise = None
        noise_by_split: dict[str, np.ndarray] = {}
        if noise_files is not None:
            offsets = rng.random(len(noise_files)).tolist()
            noise = self._decoded_noise([str(p) for p, _ in noise_files], offsets, n)
            folds = np.array([f for _, f in noise_files])
            for part in ("train", "test"):
                noise_by_split[part] = np.flatnonzero(np.isin(folds, ap["noise_folds"][part]))
                if not len(noise_by_split[part]):
                    raise ModalbenchError(f"avmnist: no ESC-50 clip in folds {ap['noise_folds'][part]} ({part})")
        ctx.provenance["audio_files"] = {"fsdd": len(speech_files), "esc50": len(noise_files or [])}
        spec = ap["spectrogram"]
        snr = float(ap["snr_db"])
        out = []
        for part, (x, y) in (("train", (train_x, train_y)), ("test", (test_x, test_y))):
            speakers = set(ap["speakers"][part])
            pools = {
                k: np.flatnonzero([m["digit"] == k and m["speaker"] in speakers for m in speech_meta])
                for k in range(10)
            }
            for k, pool in pools.items():
                if not len(pool):
                    raise ModalbenchError(f"avmnist: no FSDD recording of digit {k} by {sorted(speakers)} ({part})")
            s_idx = np.array([pools[int(k)][rng.integers(len(pools[int(k)]))] for k in y], dtype=np.int64)
            n_idx = rng.choice(noise_by_split[part], size=len(y)) if noise is not None else None
            audio = self._audio_array(speech, power, noise, s_idx, n_idx, snr, spec)
            pixels = da.from_array(x[:, None], chunks=(self.block, 1, 28, 28))
            image = pixels.map_blocks(pca_reconstruct, mean, basis, dtype=np.float32)
            if part == "train":
                out.append(SampleSplit("train", {"image": image[:-val], "audio": audio[:-val]}, {"digit": y[:-val]}))
                out.append(SampleSplit("val", {"image": image[-val:], "audio": audio[-val:]}, {"digit": y[-val:]}))
            else:
                out.append(SampleSplit("test", {"image": image, "audio": audio}, {"digit": y}))
        return out

    def _audio_array(
        self,
        speech: Any,
        power: Any,
        noise: Any,
        s_idx: np.ndarray,
        n_idx: np.ndarray | None,
        snr: float,
        spec: dict[str, Any],
    ) -> da.Array:
        blocks = []
        for a in range(0, len(s_idx), self.block):
            b = min(len(s_idx), a + self.block)
            task = dask.delayed(spectrogram_block, pure=True)(
                speech, power, noise, s_idx[a:b], None if n_idx is None else n_idx[a:b], snr, spec
            )
            blocks.append(da.from_delayed(task, shape=(b - a, 1, SPEC, SPEC), dtype=np.float32))
        return da.concatenate(blocks, axis=0)

    def _decoded_speech(self, paths: list[str], n: int) -> tuple[Any, Any]:
        parts = [
            dask.delayed(decode_speech, pure=True, nout=2)(paths[a : a + self.decode_batch], n)
            for a in range(0, len(paths), self.decode_batch)
        ]
        both = dask.delayed(_concat_pairs, pure=True, nout=2)(parts)
        return both[0], both[1]

    def _decoded_noise(self, paths: list[str], offsets: list[float], n: int) -> Any:
        parts = [
            dask.delayed(decode_noise, pure=True)(
                paths[a : a + self.decode_batch], offsets[a : a + self.decode_batch], n
            )
            for a in range(0, len(paths), self.decode_batch)
        ]
        return dask.delayed(np.concatenate, pure=True)(parts)

    def fsdd_source(self, raw: Path | None, ctx: PrepareContext, download: Path) -> tuple[Path, Path | None]:
        """The FSDD ``recordings`` folder and the archive it came from (None: placed): ``DIR/fsdd/recordings/``
        placed with ``--raw``, else the release archive of tag :data:`FSDD_TAG` (``DIR/<archive>`` or downloaded),
        extracted once."""
        placed = raw / "fsdd" / "recordings" if raw is not None else None
        if placed is not None and placed.is_dir():
            return placed, None
        rf = self.fsdd_remote
        if raw is not None and not (raw / rf.name).is_file():
            raise ModalbenchError(
                f"avmnist source=regenerate needs the Free Spoken Digit Dataset: {raw}/fsdd/recordings/ "
                f"({{digit}}_{{speaker}}_{{index}}.wav) or its release archive {raw}/{rf.name} (tag {FSDD_TAG}, "
                f"{rf.urls[0]}); omit --raw to download it (or place {ARCHIVE} there for source=canonical)"
            )
        got = fetch_for(ctx, rf, download, self.name, **self.fetch_options)
        folder = extract_flat(got.path, download / f"fsdd-{FSDD_TAG}", {"recordings": "*/recordings/*.wav"})
        return folder / "recordings", got.path

    def check_fsdd(self, files: list[Path], archive: Path | None, verification: str) -> dict[str, Any]:
        """``{"n", "files_sha256"}`` of the recordings (manifest sha256); those of a release archive must be the
        tag's (strict: error naming the archive, warn: one warning line, off: not checked). A placed folder is only
        recorded (any FSDD version may be placed; the manifest is part of the store's fingerprint)."""
        manifest = recordings_manifest_sha256(files)
        record = {"n": len(files), "files_sha256": manifest}
        pinned = self.fsdd_manifest_sha256
        if archive is None or pinned is None or manifest == pinned or verification == "off":
            return record
        problem = (
            f"{archive}: its {len(files)} recordings are not those of FSDD {FSDD_TAG} "
            f"(manifest sha256 {manifest}, expected {pinned})"
        )
        if verification == "strict":
            raise ModalbenchError(f"{problem}; delete the archive and retry, or pass --verification warn")
        print(f"modalbench: warning: {problem}; accepted (--verification warn)", file=sys.stderr)
        return record

    def esc50_source(self, raw: Path | None, ctx: PrepareContext, download: Path) -> Path:
        """The ESC-50 folder (``audio/``, ``meta/esc50.csv``): ``DIR/esc50/`` placed with ``--raw``, else the
        repository archive (``DIR/<archive>`` or downloaded), extracted once."""
        placed = raw / "esc50" if raw is not None else None
        if placed is not None and (placed / "meta" / "esc50.csv").is_file():
            return placed
        rf = self.esc50_remote
        if raw is not None and not (raw / rf.name).is_file():
            raise ModalbenchError(
                f"avmnist source=regenerate needs ESC-50: {raw}/esc50/ (audio/*.wav and meta/esc50.csv) or its "
                f"archive {raw}/{rf.name} ({rf.urls[0]}); omit --raw to download it, or --set audio.noise=none"
            )
        got = fetch_for(ctx, rf, download, self.name, **self.fetch_options)
        return extract_flat(got.path, download / "esc50", {"audio": "*/audio/*.wav", "meta": "*/meta/esc50.csv"})

    @staticmethod
    def _fsdd_files(folder: Path) -> tuple[list[Path], list[dict[str, Any]]]:
        files, meta = [], []
        for p in sorted(folder.iterdir()):
            m = FSDD_RE.match(p.name)
            if m:
                files.append(p)
                meta.append({"digit": int(m["digit"]), "speaker": m["speaker"], "index": int(m["index"])})
        if not files:
            raise ModalbenchError(f"{folder}: no FSDD recordings named {{digit}}_{{speaker}}_{{index}}.wav")
        return files, meta

    @staticmethod
    def _esc50_files(base: Path) -> list[tuple[Path, int]]:
        table = base / "meta" / "esc50.csv"
        if not table.is_file():
            raise ModalbenchError(f"{table}: missing (ESC-50 layout: audio/*.wav and meta/esc50.csv)")
        out = []
        with open(table, newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"filename", "fold"} <= set(reader.fieldnames):
                raise ModalbenchError(f"{table}: header must have the columns filename and fold (ESC-50 layout)")
            for line, row in enumerate(reader, 2):
                path = base / "audio" / row["filename"]
                try:
                    fold = int(row["fold"])
                except ValueError as exc:
                    raise ModalbenchError(f"{table}:{line}: fold {row['fold']!r} is not an integer") from exc
                if not path.is_file():
                    raise ModalbenchError(f"{table}:{line}: {path} is listed but missing")
                out.append((path, fold))
        if not out:
            raise ModalbenchError(f"{table}: no clips listed")
        return out


def _concat_pairs(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
