"""Sub-commands contributed by the subpackages (scenarios, baselines, leaderboard) and the demo."""

from __future__ import annotations

import argparse


def add_plugin_parsers(sub: argparse._SubParsersAction) -> None:
    from . import demo
    from .scenarios.cli import add_parser as add_scenarios

    add_scenarios(sub)
    demo.add_parser(sub)
