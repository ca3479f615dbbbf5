"""modalbench benchmarks (pytest-benchmark): each measures modalbench and a simple reference in the same run."""
