"""modalbench: a reproducible benchmark for multimodal fusion under missing data."""

__version__ = "0.1.0"

#: Version of the on-disk store layout (see docs/store-format.md). Part of every fingerprint.
STORE_FORMAT_VERSION = 1
