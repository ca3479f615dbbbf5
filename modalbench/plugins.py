"""Sub-commands contributed by the subpackages (scenarios, baselines, leaderboard) and the demo."""

from __future__ import annotations

import argparse


def add_plugin_parsers(sub: argparse._SubParsersAction) -> None:
    from . import demo

    demo.add_parser(sub)
