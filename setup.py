"""The one optional C extension (the HIGGS text fast path); everything else is configured in ``pyproject.toml``.

``optional=True``: without a C compiler the build goes on and ``modalbench.loaders.higgs`` parses with polars.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "modalbench.loaders._decimal_rows",
            sources=["loaders/_decimal_rows.c"],
            optional=True,
            extra_compile_args=["-O3"],
        )
    ]
)
