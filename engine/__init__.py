"""modalbench.engine: one trainer, one evaluator, the metrics and the checkpoint format, for every fusion model.

The engine drives models through the :class:`~modalbench.baselines.base.FusionModel` interface (duck-typed: it
imports no method); checkpoints are rebuilt with a builder passed in (the method registry's ``create_baseline``).
"""
