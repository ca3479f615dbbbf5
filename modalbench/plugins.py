"""Sub-commands contributed by the subpackages (scenarios, baselines, leaderboard) and the demo."""

from __future__ import annotations

import argparse


def add_plugin_parsers(sub: argparse._SubParsersAction) -> None:
    from . import commands, demo
    from .leaderboard.cli import add_parsers as add_leaderboard
    from .scenarios.cli import add_parser as add_scenarios

    add_scenarios(sub)
    commands.add_parsers(sub)
    commands.add_official_parser(sub)
    add_leaderboard(sub)
    demo.add_parser(sub)
