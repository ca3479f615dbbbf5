"""What a result was computed on: CPU model and cores, GPU, library versions, cuDNN settings.

Recorded in ``results.json`` (``hardware``) and shown by the leaderboard; never part of a fingerprint or of a job's
identity (the same experiment on another machine is the same experiment).
"""

from __future__ import annotations

import os
import platform
from typing import Any


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU quota when one is set."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def hardware_info(device: str) -> dict[str, Any]:
    """Scalars describing the machine, the torch device and the library versions (``results.json`` ``hardware``)."""
    import numpy as np
    import torch

    from modalbench import __version__

    dev = torch.device(device)
    gpu = None
    if dev.type == "cuda" and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(dev)
    elif dev.type == "mps":
        gpu = "Apple MPS"
    cudnn = torch.backends.cudnn
    return {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count() or 1,
        "usable_cpus": usable_cpus(),
        "device": str(dev),
        "gpu": gpu,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "modalbench": __version__,
        "cuda": torch.version.cuda if gpu and dev.type == "cuda" else None,
        "cudnn_version": cudnn.version() if gpu and dev.type == "cuda" else None,
        "cudnn_benchmark": bool(cudnn.benchmark),
        "cudnn_deterministic": bool(cudnn.deterministic),
    }
