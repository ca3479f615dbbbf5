"""The application layer: the ``modalbench`` command line and the workflows that join the stages.

It imports the stage packages (loaders, preprocess, scenarios, baselines, engine, leaderboard); nothing but the
console entry point imports it.
"""
