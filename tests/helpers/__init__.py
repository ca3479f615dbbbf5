"""Test helpers: local servers, tiny stores and builders, raw-format generators (imported as ``helpers``)."""

from pathlib import Path

#: tests/data: tiny files generated in each dataset's exact raw format (torchgeo's pattern)
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
