"""modalbench.leaderboard: result schema, validated submissions, reference rows, table and static-site views.

Modules: ``schema`` (JSON Schema + validate_schema), ``aggregate`` (mean/std over seeds), ``official``
(registered fingerprints and scenario hashes), ``submit`` (check_submission, submit), ``board`` (the
leaderboard directory and leaderboard.json), ``view`` (rich/JSON table), ``site`` + ``plots`` (static site),
``cli`` (argparse glue), ``example`` (seeded example results). Heavy modules are imported lazily.
"""
