"""modalbench: a reproducible benchmark for multimodal fusion under missing data."""

__version__ = "0.1.0"

#: Version of the on-disk layout per store structure (see docs/store-format.md); part of every fingerprint.
#: Windowed stores are at 2: they keep the scaled continuous streams only, and windows are cut when read
#: (format 1 also stored every window, 15× the data for OPPORTUNITY's step-1 training windows).
STORE_FORMATS = {"samples": 1, "windowed": 2}
#: The newest layout version (windowed stores).
STORE_FORMAT_VERSION = max(STORE_FORMATS.values())
