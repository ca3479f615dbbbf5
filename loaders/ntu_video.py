"""Video clips as fixed-size uint8 samples, decoded with PyAV (FFmpeg), for NTU RGB+D's RGB archives.

:func:`read_video` decodes one video from a binary stream (e.g. a zip member, never extracted to disk), samples
``frames`` frames uniformly over the whole clip (``round(linspace(0, n - 1, frames))``, the same rule as the
skeletons, :func:`.ntu_skeleton.uniform_indices`) and resizes each sampled frame to ``size × size`` RGB (the whole
1920×1080 frame, aspect ratio not kept; FFmpeg's bilinear scaler), channel-first ``(frames, 3, size, size)`` uint8.
Only the sampled frames are converted; memory stays at one decoded frame plus the output (when the container
does not state its frame count, every frame is converted to the small size once and the sample taken after).
"""

from __future__ import annotations

from typing import Any, BinaryIO

import numpy as np

from modalbench.errors import ModalbenchError

from .ntu_skeleton import uniform_indices

#: side of the square frames stored for the ``rgb`` modality (MFAS-style 112×112 clips)
VIDEO_SIZE = 112


def _small(frame: Any, size: int) -> np.ndarray:
    """One decoded frame as ``(3, size, size)`` uint8 RGB."""
    arr = frame.to_ndarray(width=size, height=size, format="rgb24", interpolation="BILINEAR")
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def read_video(stream: BinaryIO, where: str, frames: int = 8, size: int = VIDEO_SIZE) -> np.ndarray:
    """Decode ``stream`` and return ``frames`` uniformly sampled frames, ``(frames, 3, size, size)`` uint8.

    A stream that is not a decodable video, or has no video frame, is a :class:`ModalbenchError` naming ``where``.
    """
    import av

    if frames < 1 or size < 1:
        raise ModalbenchError(f"{where}: video frames and size must be >= 1 (got {frames}, {size})")
    out = np.zeros((frames, 3, size, size), dtype=np.uint8)
    try:
        with av.open(stream, mode="r") as container:
            if not container.streams.video:
                raise ModalbenchError(f"{where}: no video stream")
            video = container.streams.video[0]
            declared = int(video.frames or 0)
            if declared > 0:
                wanted = uniform_indices(declared, frames)
                slots: dict[int, list[int]] = {}
                for slot, i in enumerate(wanted.tolist()):
                    slots.setdefault(i, []).append(slot)
                last = None
                seen = 0
                for i, frame in enumerate(container.decode(video)):
                    seen = i + 1
                    if i in slots:
                        last = _small(frame, size)
                        for slot in slots[i]:
                            out[slot] = last
                    if i >= wanted[-1]:
                        break
                if seen == 0:
                    raise ModalbenchError(f"{where}: the video has no decodable frame")
                if seen <= wanted[-1]:  # fewer frames than declared: sample what was decoded
                    return read_video_all(av, stream, where, frames, size)
                return out
            return _sample_all(container, video, where, frames, size)
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise ModalbenchError(f"{where}: not a decodable video ({exc})") from exc


def read_video_all(av: Any, stream: BinaryIO, where: str, frames: int, size: int) -> np.ndarray:
    """Decode every frame (small) from the start of ``stream`` and sample uniformly afterwards."""
    stream.seek(0)
    with av.open(stream, mode="r") as container:
        return _sample_all(container, container.streams.video[0], where, frames, size)


def _sample_all(container: Any, video: Any, where: str, frames: int, size: int) -> np.ndarray:
    small = [_small(f, size) for f in container.decode(video)]
    if not small:
        raise ModalbenchError(f"{where}: the video has no decodable frame")
    idx = uniform_indices(len(small), frames)
    return np.stack([small[i] for i in idx.tolist()])
