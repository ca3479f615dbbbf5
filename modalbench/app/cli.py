"""The modalbench command line: datasets, prepare, info, verify, scenarios, train, search, evaluate, run, report,
submit, leaderboard, register-official, demo.

Every sub-command is declared here, with the shared options (``--root``, ``--threads``, ``--device``) defined once.
A command's handler lives in the app module named by its ``handler`` (``"module:function"``) and is imported only
when that command runs, so ``modalbench --help`` and the data/leaderboard commands never import torch.
Errors the user can fix (:class:`~modalbench.errors.ModalbenchError`, and OS errors such as a read-only directory or
a full disk) print one line on stderr and exit with 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import re
import sys
from collections.abc import Callable, Sequence

from modalbench import __version__
from modalbench.errors import ModalbenchError
from modalbench.plugins import import_modules
from modalbench.vocabulary import FILLS, TRAINING_REGIMES, VERIFICATION_MODES

DEVICES = ("auto", "cpu", "cuda", "mps")


#: help of every argument that names a prepared dataset (resolved by modalbench.store.store_version)
PREPARED_DATASET_HELP = (
    "a prepared dataset: NAME, or NAME@VERSION (e.g. avmnist@v1-regen), required when several versions are prepared"
)


def _parent(*adders: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    for add in adders:
        add(p)
    return p


def _root(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root",
        default=None,
        metavar="DIR",
        help="data root: a directory or an fsspec URL (default: $MODALBENCH_HOME or ~/.cache/modalbench)",
    )


def _threads(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        metavar="N",
        help="torch CPU threads (default: chosen from the CPUs this process may use)",
    )


def _fill_param(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fill-param",
        action="append",
        default=None,
        metavar="NAME=VALUE",
        help="a parameter of --fill, repeatable: knn k=INT (default 5), regress alpha=FLOAT (default 1.0)",
    )


def _device_name(text: str) -> str:
    """An argparse ``type`` for ``--device``: auto, cpu, cuda, cuda:N or mps (whether it is present is checked when
    the command runs, in one line)."""
    if text in DEVICES or re.fullmatch(r"cuda:[0-9]+", text):
        return text
    raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda, cuda:N or mps, got {text!r}")


def _device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        type=_device_name,
        metavar="{auto,cpu,cuda,cuda:N,mps}",
        help="where torch runs (auto: CUDA when present)",
    )


def _amp(p: argparse.ArgumentParser) -> None:
    p.add_argument("--amp", action="store_true", help="automatic mixed precision (CUDA devices only)")


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _leaderboard(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--leaderboard",
        metavar="DIR",
        default=None,
        help="leaderboard directory (default: your own, <root>/leaderboard; the project's is leaderboard/ in a clone)",
    )


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for integers >= ``minimum`` (argparse names the option in its one-line error)."""
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _probability(text: str) -> float:
    """An argparse ``type`` for numbers strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number strictly between 0 and 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    """An argparse ``type`` for finite numbers > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``error: <message>`` and exit 2, no usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (no stage is imported)."""
    root, threads, device, as_json, board = (
        _parent(_root),
        _parent(_threads),
        _parent(_device),
        _parent(_json),
        _parent(_leaderboard),
    )
    parser = _Parser(prog="modalbench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"modalbench {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks")
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a module that registers datasets, methods or scenario families (repeatable; "
        "also $MODALBENCH_PLUGINS)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def command(
        name: str, handler: str, help: str, parents: Sequence[argparse.ArgumentParser] = (), **kw: object
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, parents=list(parents), **kw)  # type: ignore[arg-type]
        p.set_defaults(handler=handler)
        return p

    # ------------------------------------------------------------ data
    command("datasets", "data:cmd_datasets", "list registered datasets", [root, as_json])

    p = command(
        "prepare", "prepare:cmd_prepare", "download, parse, scale, window and write a dataset's zarr store", [root]
    )
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="rebuild even if a store exists")
    p.add_argument(
        "--workers", type=_positive_int, default=None, help="run on a local dask.distributed cluster of N workers"
    )
    p.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="run on an existing dask cluster (tcp://host:port)"
    )
    p.add_argument("--raw", default=None, metavar="DIR", help="use raw archives already in DIR")
    p.add_argument(
        "--mirror",
        action="append",
        default=[],
        metavar="URL",
        help="try URL/<dataset>/<file> (or a local directory) before the canonical sources; repeatable "
        "(also $MODALBENCH_MIRROR)",
    )
    p.add_argument("--verification", default="strict", choices=VERIFICATION_MODES, help="checksum verification")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a preprocessing parameter")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = command("info", "data:cmd_info", "summary of a prepared store", [root, as_json])
    p.add_argument("name", help="dataset name, or NAME@VERSION for another prepared version (avmnist@v1-regen)")

    p = command(
        "verify",
        "data:cmd_verify",
        "check a prepared store against the checksums recorded at prepare time",
        [root, as_json],
    )
    p.add_argument("name", help=PREPARED_DATASET_HELP)
    p.add_argument("--split", default=None, choices=("train", "val", "test"), help="check only what this split reads")

    p = command(
        "scenarios",
        "scenarios:cmd_scenarios",
        "generate the seeded, checksummed test scenarios of a prepared dataset",
        [root, as_json],
        description="Generate (or, with --list, show) the missing-modality and block-missing scenarios of "
        "a prepared dataset; default: every standard family that applies.",
    )
    p.add_argument("name", help=PREPARED_DATASET_HELP)
    p.add_argument(
        "--family",
        action="append",
        metavar="F",
        default=None,
        help="scenario family, repeatable (family or family@version; default: the standard families)",
    )
    p.add_argument("--seed", type=_non_negative_int, default=0, help="scenario seed (default 0, the official one)")
    p.add_argument("--split", choices=("test", "val"), default="test", help="evaluation split (default test)")
    p.add_argument("--list", action="store_true", help="list the stored scenarios of the dataset instead")

    # ------------------------------------------------------------ models
    p = command("train", "models:cmd_train", "train a method on a prepared dataset", [root, threads, device])
    _amp(p)
    p.add_argument("baseline", metavar="METHOD")
    p.add_argument("--dataset", required=True, help=PREPARED_DATASET_HELP)
    p.add_argument("--task", default=None)
    p.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="training epochs (default: the dataset's training defaults, printed)",
    )
    p.add_argument(
        "--batch-size", type=_positive_int, default=None, help="batch size (default: the dataset's training defaults)"
    )
    p.add_argument(
        "--lr", type=_positive_float, default=None, help="Adam learning rate (default: the dataset's training defaults)"
    )
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--seeds", default=None, help="train one model per seed into OUT/seed-<k> (e.g. 0,1,2)")
    p.add_argument("--out", default=None, help="checkpoint directory (default <root>/runs/<dataset>/<method>)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="method hyperparameter")
    p.add_argument("--fill", default="mean", choices=FILLS, help="how natural gaps in the store are filled")
    _fill_param(p)
    p.add_argument("--patience", type=_positive_int, default=None, help="early-stopping patience in epochs")
    p.add_argument("--arch", default=None, help="mfas only: architecture file found by `modalbench search mfas`")
    p.add_argument(
        "--preset",
        default="default",
        choices=("default", "paper"),
        help="paper: the paper's model and training recipe where it states them (docs/protocols.md)",
    )
    p.add_argument("--workers", type=_non_negative_int, default=0, help="DataLoader workers")
    p.add_argument("--quiet", action="store_true")
    p.add_argument(
        "--regime",
        default=None,
        choices=TRAINING_REGIMES,
        help="trainer-side regime for any method: modality-dropout (--set p_drop=P, default 0.5) or "
        "curriculum-dropout (rate ramped 0 -> p_drop over the epochs)",
    )
    p.add_argument(
        "--train-scenario",
        default=None,
        metavar="FAMILY:CONDITION",
        help="train on a training split that loses modalities: a training scenario's condition, e.g. "
        "train-missing:mcar-p0.30 (generated with seed --train-scenario-seed when absent)",
    )
    p.add_argument(
        "--train-scenario-seed", type=_non_negative_int, default=0, help="training scenario seed (default 0)"
    )

    p = command(
        "search", "models:cmd_search", "architecture search (MFAS) on a prepared dataset", [root, threads, device]
    )
    p.add_argument("method", help="search method (mfas)")
    p.add_argument("--dataset", required=True, help=PREPARED_DATASET_HELP)
    p.add_argument("--task", default=None)
    p.add_argument("--budget", default="small", choices=("small", "paper"))
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument(
        "--log",
        default=None,
        help="search log (JSONL; default <root>/runs/<dataset>/mfas-search/search.jsonl); "
        "re-running with the same log resumes",
    )

    p = command(
        "evaluate",
        "models:cmd_evaluate",
        "evaluate a model on the standard scenarios; writes results.json",
        [root, threads, device],
    )
    p.add_argument("--dataset", required=True, help=PREPARED_DATASET_HELP)
    p.add_argument("--task", default=None)
    p.add_argument("--checkpoint", default=None, help="checkpoint dir (or a dir of seed-<k>/ checkpoints)")
    p.add_argument("--model", default=None, help="package.module:factory returning a trained model for a meta")
    p.add_argument("--scenarios", default=None, help="comma-separated families (default: all that apply)")
    p.add_argument("--fill", default=None, choices=FILLS, help="default: each scenario family's protocol fill")
    _fill_param(p)
    p.add_argument("--seeds", default=None, help="model seeds to evaluate (e.g. 0,1,2)")
    p.add_argument("--scenario-seed", type=_non_negative_int, default=0, help="scenario seed (0 is the official one)")
    p.add_argument("--split", default="test", choices=("test", "val"))
    p.add_argument("--batch-size", type=_positive_int, default=512)
    p.add_argument("--regime", default=None, help="training regime label (default: the model's)")
    p.add_argument("--name", default=None, help="model name on the leaderboard (default: the registry name)")
    p.add_argument("--no-fast-path", action="store_true", help="run the full forward for every condition")
    p.add_argument(
        "--threshold",
        type=_probability,
        default=0.5,
        help="multi-label tasks: predict a label when its probability exceeds this (default 0.5, GMU/MFAS)",
    )
    p.add_argument("--out", default="results.json")
    p.add_argument("--quiet", action="store_true")

    # ------------------------------------------------------------ experiment grids
    p = command(
        "run",
        "experiments:cmd_run",
        "run an experiment file: a resumable grid of train + evaluate jobs",
        [root, threads, device],
        description="Expand an experiment file (TOML) into jobs (dataset x method x hyperparameters x seed), "
        "run those without results, and merge each model's seeds into one results.json.",
    )
    p.add_argument("experiment", help="experiment file (see examples/experiments/)")
    _amp(p)
    p.add_argument("--jobs", type=_positive_int, default=1, help="local processes (one torch thread each)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, metavar="ADDRESS", help="run on a dask cluster (tcp://host:8786)")
    where.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="run on a local dask.distributed cluster of N worker processes",
    )
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: the file's `output`)")
    p.add_argument("--dry-run", action="store_true", help="print the jobs and a rough compute estimate; run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = command(
        "reproduce",
        "reproduce:cmd_reproduce",
        "list or run the papers' seed tables (shipped recipes) and compare with the reported numbers",
        [root, threads, device, board],
        description="Run a shipped recipe (an experiment file reproducing one paper table), print reproduced vs "
        "reported side by side and submit the merged results. --list shows every recipe and its status.",
    )
    p.add_argument("name", nargs="?", default=None, metavar="NAME", help="recipe name (see --list)")
    p.add_argument("--list", action="store_true", help="list the recipes: dataset, paper table, status")
    _amp(p)
    p.add_argument("--dry-run", action="store_true", help="print the jobs and a compute estimate; run nothing")
    p.add_argument("--jobs", type=_positive_int, default=1, help="local processes (one torch thread each)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: runs/reproduce/NAME)")
    p.add_argument("--seeds", default=None, metavar="S,S", help="other seeds than the recipe's (a smaller run)")
    p.add_argument("--epochs", type=_positive_int, default=None, help="another training budget than the recipe's")
    p.add_argument("--no-submit", action="store_true", help="compare only; submit nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = command(
        "report",
        "report:cmd_report",
        "summary table and robustness plots of results files",
        description="Method x scenario table (mean ± std over seeds) and PNG robustness plots.",
    )
    p.add_argument("results", nargs="+", metavar="RESULTS", help="results.json files or folders holding them")
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="where summary.md and the PNGs go (default: beside the first results)",
    )
    p.add_argument("--metric", default="f1_weighted", help="metric of the table and plots (default f1_weighted)")

    # ------------------------------------------------------------ leaderboard
    p = command(
        "submit",
        "board:cmd_submit",
        "validate a results.json and add it to the leaderboard",
        [root, board],
        description="Validate a result file (schema + official hashes + aggregates) and add it to the "
        "leaderboard; on failure list every problem and exit 2.",
    )
    p.add_argument("results", help="results.json written by `modalbench evaluate`")
    p.add_argument("--replace", action="store_true", help="replace an existing entry with the same key")

    p = command(
        "leaderboard",
        "board:cmd_leaderboard",
        "show the leaderboard or build the static site",
        [root, board],
        description="Show the leaderboard table (main metric: weighted F1) or build the site.",
    )
    p.add_argument("--dataset", default=None)
    p.add_argument("--task", default=None)
    p.add_argument("--scenario", default=None, help="e.g. missing-modalities@v1 (hides reported rows)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    lb = p.add_subparsers(dest="leaderboard_command", metavar="{build}", parser_class=_Parser)
    b = lb.add_parser("build", help="build the static site (index + one page per dataset)")
    b.add_argument("--out", required=True, metavar="DIR")
    b.add_argument("--leaderboard", metavar="DIR", default=argparse.SUPPRESS)  # keep one given before "build"
    b.add_argument("--root", metavar="DIR", default=argparse.SUPPRESS)
    b.set_defaults(handler="board:cmd_build")

    p = command(
        "register-official",
        "board:cmd_register_official",
        "(maintainers) register a dataset's official fingerprint and scenario hashes",
        [root, board],
    )
    p.add_argument("name")

    p = command("demo", "demo:cmd_demo", "run the main job end to end on the embedded digits dataset", [root])
    p.add_argument("--epochs", type=_positive_int, default=None)
    p.add_argument("--quiet", action="store_true")
    return parser


def _handler(spec: str) -> Callable[[argparse.Namespace], int | None]:
    module, _, func = spec.partition(":")
    handler: Callable[[argparse.Namespace], int | None] = getattr(
        importlib.import_module(f"modalbench.app.{module}"), func
    )
    return handler


def _method_help(method: str) -> int:
    """``train METHOD --help``: the usage of ``train`` and the method's declared parameters."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["train"].print_help()
    print()
    try:
        return int(_handler("models:print_method_params")(method))  # type: ignore[arg-type]
    except ModalbenchError as exc:
        return _fail(str(exc))


def _os_error_line(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"{where}no space left on the device"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{where}not writable ({exc.strerror})"
    return f"{where}{exc.strerror or exc}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 a user-fixable error, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 3 and argv[0] == "train" and not argv[1].startswith("-") and {"-h", "--help"} & set(argv[2:]):
        return _method_help(argv[1])
    args = build_parser().parse_args(argv)
    try:
        import_modules(args.plugin)
        return int(_handler(args.handler)(args) or 0)
    except ModalbenchError as exc:
        if args.verbose:
            raise
        return _fail(str(exc))
    except OSError as exc:
        if args.verbose:
            raise
        return _fail(_os_error_line(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
