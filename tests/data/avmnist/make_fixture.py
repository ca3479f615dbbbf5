"""Generate tiny AV-MNIST raw inputs in their exact layouts (SYNTHETIC content), into a folder given by the tests.

Nothing is committed: the tests call these functions into ``tmp_path`` (the WAVs would be ~1 MB).

* :func:`write_canonical` — ``avmnist.tar.gz`` as the MFAS authors ship it: ``avmnist/image/{train,test}_data.npy``
  (N×784 float32 in [0, 1]), ``avmnist/audio/{train,test}_data.npy`` (N×112×112 float32),
  ``avmnist/{train,test}_labels.npy`` (int64). Image row ``i`` is constant ``i / 1000``; audio row ``i`` is constant
  ``-i``; labels cycle 0..9.
* :func:`write_fsdd` — ``fsdd/recordings/{digit}_{speaker}_{index}.wav``, 8 kHz mono int16: digit ``k`` is a sine at
  ``300 + 100 k`` Hz, amplitude 0.5, ``0.4 + 0.1 (index % 8)`` s long (some shorter, some longer than 1 s).
* :func:`write_esc50` — ``esc50/audio/<fold>-<id>-A-<target>.wav`` (44.1 kHz mono int16, 2 s of seeded white noise,
  amplitude 0.1) and ``esc50/meta/esc50.csv`` with the real header
  ``filename,fold,target,category,esc10,src_file,take``; one clip per fold 1..5 unless told otherwise.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from scipy.io import wavfile

SPEAKERS = ("jackson", "nicolas", "theo", "yweweler")


def write_canonical(dest: Path, n_train: int = 60, n_test: int = 20, name: str = "avmnist.tar.gz") -> Path:
    arrays = {}
    for part, n in (("train", n_train), ("test", n_test)):
        arrays[f"avmnist/image/{part}_data.npy"] = np.repeat(np.arange(n, dtype=np.float32)[:, None] / 1000, 784, 1)
        arrays[f"avmnist/audio/{part}_data.npy"] = -np.broadcast_to(
            np.arange(n, dtype=np.float32)[:, None, None], (n, 112, 112)).copy()
        arrays[f"avmnist/{part}_labels.npy"] = np.arange(n, dtype=np.int64) % 10
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / name
    with tarfile.open(path, "w:gz") as tf:
        for member, arr in arrays.items():
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=False)
            info = tarfile.TarInfo(member)
            info.size = buf.tell()
            buf.seek(0)
            tf.addfile(info, buf)
    return path


def write_fsdd(dest: Path, speakers: tuple[str, ...] = SPEAKERS, takes: int = 3) -> Path:
    folder = dest / "fsdd" / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    for speaker in speakers:
        for digit in range(10):
            for index in range(takes):
                seconds = 0.4 + 0.1 * (index % 8) + (0.7 if index == 1 else 0.0)
                t = np.arange(int(8000 * seconds)) / 8000
                x = 0.5 * np.sin(2 * np.pi * (300 + 100 * digit) * t)
                wavfile.write(folder / f"{digit}_{speaker}_{index}.wav", 8000, (x * 32767).astype(np.int16))
    return folder


def write_esc50(dest: Path, folds: tuple[int, ...] = (1, 2, 3, 4, 5), seed: int = 50) -> Path:
    base = dest / "esc50"
    (base / "audio").mkdir(parents=True, exist_ok=True)
    (base / "meta").mkdir(parents=True, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(seed))
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    for i, fold in enumerate(folds):
        name = f"{fold}-{100000 + i}-A-{i % 50}.wav"
        x = 0.1 * rng.standard_normal(2 * 44100)
        wavfile.write(base / "audio" / name, 44100, (x * 32767).astype(np.int16))
        rows.append(f"{name},{fold},{i % 50},noise{i % 50},False,{100000 + i},A")
    (base / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")
    return base


def write_fsdd_release(dest: Path, tag: str = "v1.0.9", **fsdd: object) -> Path:
    """The FSDD release archive as GitHub serves it for ``tag``: ``free-spoken-digit-dataset-<tag without v>.tar.gz``
    with the top folder ``free-spoken-digit-dataset-<version>/`` holding ``recordings/*.wav`` (:func:`write_fsdd`),
    ``README.md`` and ``metadata.py``."""
    top = f"free-spoken-digit-dataset-{tag.lstrip('v')}"
    staging = dest / "staging-fsdd"
    recordings = write_fsdd(staging, **fsdd)  # type: ignore[arg-type]
    (staging / "fsdd" / "README.md").write_text("# Free Spoken Digit Dataset (FSDD)\n")
    (staging / "fsdd" / "metadata.py").write_text("metadata = {}\n")
    path = dest / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        tf.add(staging / "fsdd" / "README.md", f"{top}/README.md")
        tf.add(staging / "fsdd" / "metadata.py", f"{top}/metadata.py")
        for wav in sorted(recordings.iterdir()):
            tf.add(wav, f"{top}/recordings/{wav.name}")
    return path


def write_esc50_archive(dest: Path, **esc50: object) -> Path:
    """ESC-50's repository archive as GitHub serves it: ``ESC-50-master.zip`` with ``ESC-50-master/audio/*.wav``,
    ``ESC-50-master/meta/esc50.csv`` (:func:`write_esc50`) and ``ESC-50-master/README.md``."""
    import zipfile

    base = write_esc50(dest / "staging-esc50", **esc50)  # type: ignore[arg-type]
    path = dest / "ESC-50-master.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ESC-50-master/README.md", "# ESC-50\n")
        zf.write(base / "meta" / "esc50.csv", "ESC-50-master/meta/esc50.csv")
        for wav in sorted((base / "audio").iterdir()):
            zf.write(wav, f"ESC-50-master/audio/{wav.name}")
    return path
