"""Rows of comma-separated decimal numbers → float32 (C fast path for :mod:`modalbench.loaders.higgs`)."""

from typing import Any

import numpy as np
from typing_extensions import Buffer

def parse_into(text: Buffer, out: Buffer | np.ndarray[Any, Any], ncols: int, /) -> int:
    """Rows written into the float32 buffer ``out``, or -1: the block must be parsed another way."""
