"""Generate ``Mudestreda.zip``: 30 tiny samples in the layout of the Zenodo record (and of the Minape repository).

``Mudestreda/{tool,specX,specY,specZ}/T<t>R<r>B<b>.{jpg,png}`` (tool: RGB JPEG, 62×20 — the real 1550×500 shrunk
25×; spectrograms: RGBA PNG, 50×37 — the real 495×368 shrunk ~10×) and the label CSVs
``Mudestreda/labels/{random,tool}_distribution/{train,val,test}.csv`` (``id,image_label,tool_label``).
Tools T1–T10, three observations each (sharp R1B1, used R5B2, dulled R13B3); the class shifts the image colours so
a model can learn it. Run ``python tests/data/mudestreda/make_fixture.py`` to regenerate (fixed zip timestamps).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
CLASSES = ("sharp", "used", "dulled")
RUNS = ("R1B1", "R5B2", "R13B3")
TOOL_SIZE = (62, 20)  # (width, height)
SPEC_SIZE = (50, 37)


def sample_ids() -> list[tuple[str, int]]:
    """(id, class) of the 30 fixture samples."""
    return [(f"T{t}{run}", c) for t in range(1, 11) for c, run in enumerate(RUNS)]


def image_bytes(kind: str, cls: int, seed: int) -> bytes:
    """A seeded image whose mean colour depends on the class."""
    rng = np.random.Generator(np.random.PCG64(seed))
    w, h = TOOL_SIZE if kind == "tool" else SPEC_SIZE
    base = np.array([60 + 70 * cls, 180 - 60 * cls, 100], dtype=np.float64)
    ramp = np.linspace(-20.0, 20.0, w)[None, :, None] * rng.uniform(0.5, 1.5)
    rgb = np.clip(base + ramp + rng.integers(-1, 2, (h, w, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    if kind == "tool":
        Image.fromarray(rgb, "RGB").save(buf, format="JPEG", quality=90)
    else:
        rgba = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], axis=2)
        Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    return buf.getvalue()


def label_csv(rows: list[tuple[str, int]]) -> bytes:
    lines = ["id,image_label,tool_label"] + [f"{i},{CLASSES[c]},{c + 1}" for i, c in rows]
    return ("\n".join(lines)).encode()


def write(path: Path) -> None:
    ids = sample_ids()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        def add(name: str, data: bytes) -> None:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2023, 8, 10, 0, 0, 0)), data)

        for k, (sid, cls) in enumerate(ids):
            add(f"Mudestreda/tool/{sid}.jpg", image_bytes("tool", cls, 1000 + k))
            for j, axis in enumerate("XYZ"):
                add(f"Mudestreda/spec{axis}/{sid}.png", image_bytes("spec", cls, 2000 + 10 * k + j))
        for dist in ("random", "tool"):
            add(f"Mudestreda/labels/{dist}_distribution/train.csv", label_csv(ids[:24]))
            add(f"Mudestreda/labels/{dist}_distribution/val.csv", label_csv(ids[24:27]))
            add(f"Mudestreda/labels/{dist}_distribution/test.csv", label_csv(ids[27:]))


if __name__ == "__main__":
    write(HERE / "Mudestreda.zip")
