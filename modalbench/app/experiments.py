"""``modalbench run EXPERIMENT``: a TOML experiment file expanded into a grid of train-and-evaluate jobs.

One **job** trains one method (one hyperparameter combination) with one seed on one dataset, then evaluates it on
the experiment's scenarios; it writes ``<output>/<dataset>/<group>/seed-<k>/`` (checkpoint, ``job.json``,
``results.json``). One **group** is (dataset, method, hyperparameters); once all its seeds are done it gets ONE merged
``<output>/<dataset>/<group>/results.json`` over the seeds, made exactly as ``modalbench evaluate --checkpoint
<group> --seeds …`` makes it, so ``modalbench submit`` accepts it.

Resuming: a job whose ``results.json`` exists (written atomically, after its checkpoint) is done and skipped; any
other seed directory is untrusted and trained again from scratch. Jobs run in this process, in ``--jobs N``
processes (one torch thread each, forked from a server that imported torch once) or as tasks on a dask.distributed cluster (``--workers N`` / ``--scheduler``),
which must see the same data root and output folder.
"""

from __future__ import annotations

import concurrent.futures
import difflib
import itertools
import json
import multiprocessing
import re
import shutil
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from modalbench.atomic import canonical_json, write_json_atomic
from modalbench.cluster import local_cluster
from modalbench.errors import ModalbenchError
from modalbench.fills import fill_defaults, resolve_fill_params
from modalbench.store import split_dataset_ref
from modalbench.vocabulary import FILLS

from .console import err, out

if TYPE_CHECKING:  # workflows imports torch; jobs import it only in the process that runs them
    from .workflows import EvalSpec

# ---------------------------------------------------------------- the experiment file

TOP_KEYS = ("name", "output", "seeds", "scenarios", "fill", "fill_params", "training", "datasets", "methods")
TRAINING_KEYS = ("epochs", "lr", "batch_size", "patience")
DATASET_KEYS = ("name", "set", "task")
METHOD_KEYS = ("name", "label", "hparams", "preset")
RESULTS = "results.json"
JOB_FILE = "job.json"
GROUP_FILE = "group.json"
_SLUG = re.compile(r"[^A-Za-z0-9._+-]")


@dataclass(frozen=True)
class Training:
    """The training budget shared by every job."""

    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    patience: int | None = None


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    params: dict[str, Any]
    task: str | None = None


@dataclass(frozen=True)
class MethodEntry:
    name: str
    hparams: dict[str, Any]  # a list value is a grid axis
    label: str | None = None
    preset: str = "default"  # "paper": the paper's model and recipe where stated (docs/protocols.md)


@dataclass(frozen=True)
class Experiment:
    """A validated experiment file."""

    path: Path
    name: str
    output: Path
    seeds: tuple[int, ...]
    scenarios: tuple[str, ...]
    fill: str
    training: Training
    datasets: tuple[DatasetEntry, ...]
    methods: tuple[MethodEntry, ...]
    #: parameters of ``fill`` (``knn``: k, ``regress``: alpha); a list value is a grid axis
    fill_params: dict[str, Any] = field(default_factory=dict)


def _unknown_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ModalbenchError(f"{where}: unknown key {key!r}{hint} (allowed: {', '.join(allowed)})")


def _require(table: dict[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise ModalbenchError(f"{where}: missing key {key!r}")
    return table[key]


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ModalbenchError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ModalbenchError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ModalbenchError(f"{where}: expected a table, got {value!r}")
    return value


def _tables(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise ModalbenchError(f"{where}: expected a non-empty array of tables ([[{where.rsplit(': ', 1)[-1]}]])")
    return value


def _known(name: str, names: list[str], kind: str, where: str) -> None:
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ModalbenchError(f"{where}: unknown {kind} {name!r}{hint} (registered: {', '.join(names)})")


def parse_experiment(doc: dict[str, Any], path: Path, *, output: Path | None = None) -> Experiment:
    """Validate a parsed experiment document; every error is one line naming the key and what was expected."""
    from modalbench.baselines.registry import baseline_names
    from modalbench.datasets import dataset_names
    from modalbench.scenarios import get_scenario

    f = str(path)
    _unknown_keys(doc, TOP_KEYS, f)
    name = _str(doc.get("name", path.stem), f"{f}: name")
    out_value = output if output is not None else Path(_str(_require(doc, "output", f), f"{f}: output"))
    seeds_raw = _require(doc, "seeds", f)
    if not isinstance(seeds_raw, list) or not seeds_raw:
        raise ModalbenchError(f"{f}: seeds: expected a non-empty array of integers like [0, 1, 2], got {seeds_raw!r}")
    seeds = tuple(_int(s, f"{f}: seeds[{i}]", 0) for i, s in enumerate(seeds_raw))
    if len(set(seeds)) != len(seeds):
        raise ModalbenchError(f"{f}: seeds: expected distinct integers, got {list(seeds)}")
    fams_raw = _require(doc, "scenarios", f)
    if not isinstance(fams_raw, list) or not fams_raw:
        raise ModalbenchError(
            f"{f}: scenarios: expected a non-empty array of scenario families like "
            f'["full", "missing-modalities"], got {fams_raw!r}'
        )
    families: list[str] = []
    for i, fam in enumerate(fams_raw):
        fam = _str(fam, f"{f}: scenarios[{i}]")
        try:
            get_scenario(fam)
        except ModalbenchError as exc:
            raise ModalbenchError(f"{f}: scenarios[{i}]: {exc.args[0] if exc.args else exc}") from None
        if fam in families:
            raise ModalbenchError(f"{f}: scenarios[{i}]: {fam!r} is listed twice")
        families.append(fam)
    fill = doc.get("fill", "mean")
    if fill not in FILLS:
        raise ModalbenchError(f"{f}: fill: expected one of {', '.join(FILLS)}, got {fill!r}")
    fill_params = dict(_table(doc.get("fill_params", {}), f"{f}: fill_params"))
    for key, value in fill_params.items():
        if isinstance(value, list) and not value:
            raise ModalbenchError(f"{f}: fill_params.{key}: a grid axis needs at least one value")
    for combo in expand_hparams(fill_params):
        resolve_fill_params(fill, combo, owner=f"{f}: fill_params")

    tr = _table(doc.get("training", {}), f"{f}: training")
    _unknown_keys(tr, TRAINING_KEYS, f"{f}: training")
    lr = tr.get("lr", Training.lr)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ModalbenchError(f"{f}: training.lr: expected a positive number, got {lr!r}")
    training = Training(
        epochs=_int(tr.get("epochs", Training.epochs), f"{f}: training.epochs", 1),
        lr=float(lr),
        batch_size=_int(tr.get("batch_size", Training.batch_size), f"{f}: training.batch_size", 1),
        patience=(_int(tr["patience"], f"{f}: training.patience", 1) if "patience" in tr else None),
    )

    datasets: list[DatasetEntry] = []
    known_datasets = dataset_names()
    for i, d in enumerate(_tables(_require(doc, "datasets", f), f"{f}: datasets")):
        where = f"{f}: datasets[{i}]"
        _unknown_keys(d, DATASET_KEYS, where)
        dname = _str(_require(d, "name", where), f"{where}.name")  # NAME or NAME@VERSION
        _known(split_dataset_ref(dname)[0], known_datasets, "dataset", f"{where}.name")
        if any(e.name == dname for e in datasets):
            raise ModalbenchError(f"{where}.name: {dname!r} is listed twice (a data root holds one store per dataset)")
        task = d.get("task")
        if task is not None:
            task = _str(task, f"{where}.task")
        datasets.append(DatasetEntry(dname, dict(_table(d.get("set", {}), f"{where}.set")), task))

    methods: list[MethodEntry] = []
    known_methods = baseline_names()
    for i, m in enumerate(_tables(_require(doc, "methods", f), f"{f}: methods")):
        where = f"{f}: methods[{i}]"
        _unknown_keys(m, METHOD_KEYS, where)
        mname = _str(_require(m, "name", where), f"{where}.name")
        _known(mname, known_methods, "method", f"{where}.name")
        hparams = dict(_table(m.get("hparams", {}), f"{where}.hparams"))
        for key, value in hparams.items():
            if isinstance(value, list) and not value:
                raise ModalbenchError(
                    f"{where}.hparams.{key}: a grid axis needs at least one value (to pass an "
                    f"empty list as the value, write [[]])"
                )
        label = m.get("label")
        if label is not None and (not isinstance(label, str) or not label or _SLUG.search(label) or label[0] in "._+-"):
            raise ModalbenchError(f"{where}.label: expected letters, digits, '.', '_', '+', '-', got {label!r}")
        if label is not None and _grid_size(hparams) > 1:
            raise ModalbenchError(
                f"{where}.label: a label names one model; this method has a grid of "
                f"{_grid_size(hparams)} hyperparameter combinations"
            )
        preset = m.get("preset", "default")
        if preset not in ("default", "paper"):
            raise ModalbenchError(f"{where}.preset: expected 'default' or 'paper', got {preset!r}")
        methods.append(MethodEntry(mname, hparams, label, preset))
    return Experiment(
        path=path,
        name=name,
        output=out_value,
        seeds=seeds,
        scenarios=tuple(families),
        fill=fill,
        training=training,
        datasets=tuple(datasets),
        methods=tuple(methods),
        fill_params=fill_params,
    )


def load_experiment(path: str | Path, *, output: str | Path | None = None) -> Experiment:
    """Read and validate an experiment file (TOML); ``output`` overrides its ``output`` folder.

    A relative ``output`` is taken from the current directory; it is made absolute here (dask workers need it).
    """
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModalbenchError(f"{p}: no such experiment file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ModalbenchError(f"{p}: invalid TOML: {exc}") from None
    exp = parse_experiment(doc, p, output=Path(output) if output is not None else None)
    return Experiment(**{**exp.__dict__, "output": exp.output.expanduser().resolve()})


# ---------------------------------------------------------------- expansion into jobs


def _grid_size(hparams: dict[str, Any]) -> int:
    n = 1
    for v in hparams.values():
        n *= len(v) if isinstance(v, list) else 1
    return n


def expand_hparams(hparams: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the grid axes (list values), in file order; other values are fixed."""
    keys = list(hparams)
    axes = [hparams[k] if isinstance(hparams[k], list) else [hparams[k]] for k in keys]
    return [dict(zip(keys, combo)) for combo in itertools.product(*axes)]


def _slug_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return _SLUG.sub("_", text.lower() if isinstance(value, bool) else text)


def model_name(method: str, hparams: dict[str, Any]) -> str:
    """Leaderboard name (a slug) of a method with hyperparameters: ``embracenet+adj_pre-true``."""
    name = "+".join([method] + [f"{_SLUG.sub('_', k)}-{_slug_value(v)}" for k, v in hparams.items()])
    if len(name) > 100:
        import hashlib

        name = f"{name[:83]}+{hashlib.sha256(canonical_json(hparams)).hexdigest()[:16]}"
    return name


@dataclass(frozen=True)
class Job:
    """Train one method/hyperparameters/seed on one dataset, then evaluate it (picklable: runs in other processes)."""

    dataset: str
    dataset_params: dict[str, Any]
    task: str | None
    method: str
    hparams: dict[str, Any]
    name: str
    seed: int
    dir: str
    root: str | None
    scenarios: tuple[str, ...]
    fill: str
    training: Training
    threads: int | None = None
    device: str = "cpu"
    plugins: tuple[str, ...] = ()
    preset: str = "default"
    amp: bool = False
    #: the fill's parameters, defaults filled in (empty for fills without parameters)
    fill_params: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.name}/seed-{self.seed}"

    def identity(self) -> dict[str, Any]:
        """What the job computes (recorded as ``job.json``; results of another identity are never reused)."""
        return {
            "dataset": self.dataset,
            "dataset_params": self.dataset_params,
            "task": self.task,
            "method": self.method,
            "hparams": self.hparams,
            "name": self.name,
            "seed": self.seed,
            "scenarios": list(self.scenarios),
            "fill": self.fill,
            # recorded when not the defaults: older job.json files stay valid, k=5 and k=10 results never mix
            **({"fill_params": self.fill_params} if self.fill_params != fill_defaults(self.fill) else {}),
            "training": asdict(self.training),
            **({"preset": self.preset} if self.preset != "default" else {}),  # older job.json files stay valid
            **({"amp": True} if self.amp else {}),
        }


@dataclass(frozen=True)
class Group:
    """The seeds of one (dataset, method, hyperparameters); merged into one results file."""

    dataset: str
    task: str | None
    method: str
    hparams: dict[str, Any]
    name: str
    dir: str
    root: str | None
    scenarios: tuple[str, ...]
    fill: str
    jobs: tuple[Job, ...]
    threads: int | None = None
    device: str = "cpu"
    plugins: tuple[str, ...] = ()
    command: str = ""  # recorded in the merged results.json (default: the equivalent `modalbench evaluate`)
    fill_params: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.name}"

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(j.seed for j in self.jobs)

    def identity(self) -> dict[str, Any]:
        return {"jobs": [j.identity() for j in self.jobs]}


def expand(
    exp: Experiment,
    *,
    root: str | None,
    threads: int | None = None,
    device: str = "cpu",
    plugins: tuple[str, ...] = (),
    amp: bool = False,
) -> list[Group]:
    """The experiment's groups (dataset × method × hyperparameter combination × fill-parameter combination), each
    with one job per seed. With several fill-parameter combinations each model name gets ``+fill_<name>-<value>``."""
    groups: list[Group] = []
    fill_grid = expand_hparams(exp.fill_params)
    for ds in exp.datasets:
        for m in exp.methods:
            for hp, fp in itertools.product(expand_hparams(m.hparams), fill_grid):
                fill_params = resolve_fill_params(exp.fill, fp, owner=f"{exp.path}: fill_params")
                name = (m.label or model_name(m.name, hp)) + (
                    "".join(f"+fill_{_SLUG.sub('_', k)}-{_slug_value(v)}" for k, v in fp.items())
                    if len(fill_grid) > 1
                    else ""
                )
                gdir = exp.output / ds.name / name
                if any(g.dir == str(gdir) for g in groups):
                    raise ModalbenchError(
                        f"{exp.path}: methods: two entries give the same model {name!r}; give one a `label`"
                    )
                jobs = tuple(
                    Job(
                        dataset=ds.name,
                        dataset_params=ds.params,
                        task=ds.task,
                        method=m.name,
                        hparams=hp,
                        name=name,
                        seed=s,
                        dir=str(gdir / f"seed-{s}"),
                        root=root,
                        scenarios=exp.scenarios,
                        fill=exp.fill,
                        fill_params=fill_params,
                        training=exp.training,
                        threads=threads,
                        device=device,
                        plugins=plugins,
                        preset=m.preset,
                        amp=amp,
                    )
                    for s in exp.seeds
                )
                groups.append(
                    Group(
                        dataset=ds.name,
                        task=ds.task,
                        method=m.name,
                        hparams=hp,
                        name=name,
                        dir=str(gdir),
                        root=root,
                        scenarios=exp.scenarios,
                        fill=exp.fill,
                        fill_params=fill_params,
                        jobs=jobs,
                        threads=threads,
                        device=device,
                        plugins=plugins,
                    )
                )
    return groups


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def job_done(job: Job) -> bool:
    """True when the job's results exist; results of a different job in the same folder are an error."""
    d = Path(job.dir)
    if not (d / RESULTS).is_file():
        return False
    recorded = _read_json(d / JOB_FILE)
    if recorded != json.loads(canonical_json(job.identity())):
        changes = _changes(recorded, job.identity())
        raise ModalbenchError(
            f"{d}: holds results of another experiment ({changes}); delete that folder or set another `output`"
        )
    return True


def merge_done(group: Group) -> bool:
    """True when the group's merged results exist and were made from the group's current seeds."""
    d = Path(group.dir)
    return (d / RESULTS).is_file() and _read_json(d / GROUP_FILE) == json.loads(canonical_json(group.identity()))


def _changes(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict):
        return f"no readable {JOB_FILE}"
    new = json.loads(canonical_json(new))
    diffs = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return "; ".join(diffs) or "different job"


# ---------------------------------------------------------------- running one job / one merge

_ONE_JOB_PER_PROCESS = threading.Lock()  # torch's seed and thread count are per process: jobs never overlap in one


@dataclass
class JobOutcome:
    """What a finished job reports back to the driver."""

    label: str
    seconds: float
    best_epoch: int
    val_metric: str
    val_score: float
    full_f1: float | None


def _headline(result: dict[str, Any]) -> float | None:
    """Weighted F1 on the ``full`` scenario (mean over the document's seeds), when the document has it."""
    try:
        agg = result["aggregates"]
        sid = next(k for k in agg if k.split("@", 1)[0] == "full")
        return float(agg[sid]["metrics"]["f1_weighted"]["mean"])
    except (KeyError, TypeError, StopIteration, ValueError):
        return None


def run_job(job: Job) -> JobOutcome:
    """Train and evaluate one job into ``job.dir`` (any earlier, untrusted content there is removed first)."""
    from modalbench.plugins import import_modules

    from .workflows import TrainSpec, run_evaluation, run_training, set_threads

    with _ONE_JOB_PER_PROCESS:
        t0 = time.perf_counter()
        import_modules(list(job.plugins))
        set_threads(job.threads)
        d = Path(job.dir)
        if d.exists():
            shutil.rmtree(d)  # no results.json: a half-written checkpoint is never trusted
        d.mkdir(parents=True)
        write_json_atomic(d / JOB_FILE, job.identity())
        t = job.training
        tr = run_training(
            TrainSpec(
                baseline=job.method,
                dataset=job.dataset,
                root=job.root,
                task=job.task,
                epochs=t.epochs,
                batch_size=t.batch_size,
                lr=t.lr,
                seed=job.seed,
                device=job.device,
                out=d,
                hparams=dict(job.hparams),
                fill=job.fill,
                fill_params=dict(job.fill_params),
                patience=t.patience,
                progress=False,
                command=f"modalbench run ({job.label})",
                preset=job.preset,
                amp=job.amp,
            )
        )
        result = run_evaluation(evaluation_of(job, d))
        write_json_atomic(d / RESULTS, result)
        return JobOutcome(
            job.label,
            time.perf_counter() - t0,
            int(tr.best_epoch),
            str(tr.metric),
            float(tr.best_score),
            _headline(result),
        )


def evaluation_of(unit: Job | Group, checkpoint: Path, *, seeds: tuple[int, ...] | None = None) -> EvalSpec:
    """The evaluation of a job's checkpoint (or of a group's seed checkpoints) on the experiment's scenarios."""
    from .workflows import EvalSpec

    return EvalSpec(
        dataset=unit.dataset,
        root=unit.root,
        task=unit.task,
        checkpoint=checkpoint,
        scenarios=unit.scenarios,
        fill=unit.fill,
        fill_params=dict(unit.fill_params) or None,
        seeds=seeds,
        device=unit.device,
        model_name=unit.name,
    )


def merge_group(group: Group) -> str:
    """Merge the group's per-seed ``results.json`` into ``<group>/results.json``; returns its path.

    No model is evaluated again: each job already evaluated its seed (with ``torch.manual_seed(seed)``, as a joint
    evaluation does per seed), so the merged document equals the one ``modalbench evaluate --checkpoint <group>
    --seeds …`` writes (a submission), apart from its date and command.
    """
    from modalbench.results import merge_seed_documents

    from .workflows import equivalent_command

    d = Path(group.dir)
    (d / RESULTS).unlink(missing_ok=True)  # a stale merge never survives a new group.json
    write_json_atomic(d / GROUP_FILE, group.identity())
    docs = []
    for job in group.jobs:
        doc = _read_json(Path(job.dir) / RESULTS)
        if not isinstance(doc, dict):
            raise ModalbenchError(f"{Path(job.dir) / RESULTS}: missing or unreadable; run the experiment again")
        docs.append(doc)
    spec = evaluation_of(group, d, seeds=group.seeds)
    try:
        result = merge_seed_documents(
            docs,
            command=group.command or equivalent_command(spec),
            date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
    except ValueError as exc:
        raise ModalbenchError(f"{d}: cannot merge the seeds' results: {exc}") from None
    write_json_atomic(d / RESULTS, result)
    return str(d / RESULTS)


# ---------------------------------------------------------------- executors


class _InlineFuture:
    def __init__(self, fn: Callable[..., Any], arg: Any) -> None:
        self._fn, self._arg = fn, arg

    def result(self) -> Any:
        return self._fn(self._arg)


@contextmanager
def _executor(jobs: int, workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """``(submit, wait)``: a dask client, a process pool, or ``None`` (run in this process)."""
    if scheduler or workers:
        from distributed import Client
        from distributed import wait as dask_wait

        if scheduler:
            client = Client(scheduler)
            try:
                yield (lambda fn, arg: client.submit(fn, arg, pure=False)), dask_wait
            finally:
                client.close()
            return
        cluster = local_cluster(workers or 1)
        client = Client(cluster)
        try:
            yield (lambda fn, arg: client.submit(fn, arg, pure=False)), dask_wait
        finally:
            client.close()
            try:  # worker processes that imported torch can be slow to exit; the nanny kills them
                cluster.close(timeout=120)
            except TimeoutError:
                err.print(
                    "[yellow]warning[/yellow]: the local dask cluster was slow to stop (its workers were "
                    "killed; every result was already written)"
                )
        return
    if jobs > 1:
        # forkserver: workers are forked from a clean server process (no inherited torch threads or open stores)
        # that imported torch and the workflows once
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["modalbench.app.workflows"])
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            try:
                yield pool.submit, concurrent.futures.wait
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        return
    yield None


# ---------------------------------------------------------------- the run


@dataclass
class RunSummary:
    """What :func:`run_experiment` did."""

    groups: list[Group]
    ran: list[str] = field(default_factory=list)  # job labels trained in this run
    skipped: list[str] = field(default_factory=list)  # job labels whose results already existed
    merged: list[str] = field(default_factory=list)  # merged results files (re)written in this run
    results: list[str] = field(default_factory=list)  # every group's merged results file
    outcomes: list[JobOutcome] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def prepare_inputs(exp: Experiment, root: str | None, *, progress: bool = True) -> None:
    """Prepare each dataset (a no-op when prepared with the same parameters) and generate its scenarios, once,
    before any job starts (jobs running in parallel never write the shared stores)."""
    from modalbench.preprocess.pipeline import prepare
    from modalbench.scenarios import generate_scenarios

    for ds in exp.datasets:
        name, version = split_dataset_ref(ds.name)
        res = prepare(name, root=root, overrides=dict(ds.params), progress=progress)
        if version is not None and res.attrs.get("version") != version:
            raise ModalbenchError(
                f"{exp.path}: dataset {ds.name}: its parameters prepare version {res.attrs.get('version')}, "
                f"not {version}; change its `set` or name {name}@{res.attrs.get('version')}"
            )
        if not res.skipped:
            err.print(f"[green]prepared[/green] {ds.name} in {res.seconds:.1f} s")
        generate_scenarios(root, ds.name, list(exp.scenarios), seed=0)


def _line(o: JobOutcome) -> str:
    full = "-" if o.full_f1 is None else f"{o.full_f1:.4f}"
    return (
        f"[green]done[/green] {o.label}: best epoch {o.best_epoch}, val {o.val_metric} {o.val_score:.4f}, "
        f"full weighted F1 {full} ({o.seconds:.1f} s)"
    )


def run_experiment(
    exp: Experiment,
    *,
    root: str | None = None,
    jobs: int = 1,
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    device: str = "cpu",
    plugins: tuple[str, ...] = (),
    progress: bool = True,
    console: Console | None = None,
    command: str = "",
    amp: bool = False,
) -> RunSummary:
    """Run every job of ``exp`` whose results do not exist yet, then merge each group over its seeds.

    ``jobs`` > 1 runs that many local processes; ``workers`` starts a dask LocalCluster; ``scheduler`` joins an
    existing dask cluster (its workers must see ``root`` and ``exp.output``). Pool and cluster jobs use one torch
    thread unless ``threads`` is given. Raises :class:`ModalbenchError` naming the failed jobs after running the rest.
    """
    if jobs < 1:
        raise ModalbenchError(f"--jobs must be >= 1 (got {jobs})")
    if workers is not None and scheduler:
        raise ModalbenchError("pass --workers N or --scheduler ADDRESS, not both")
    console = console or err
    remote = bool(workers or scheduler or jobs > 1)
    groups = expand(
        exp, root=root, threads=threads if threads or not remote else 1, device=device, plugins=plugins, amp=amp
    )
    if command:  # recorded in each merged results.json instead of the equivalent `modalbench evaluate`
        groups = [replace(g, command=command) for g in groups]
    summary = RunSummary(groups)
    todo = [j for g in groups for j in g.jobs if not job_done(j)]
    summary.skipped = [j.label for g in groups for j in g.jobs if j not in todo]
    prepare_inputs(exp, root, progress=progress)
    exp.output.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        exp.output / "experiment.json",
        {"experiment": str(exp.path), "name": exp.name, "groups": [g.label for g in groups]},
    )
    if summary.skipped:
        console.print(f"{len(summary.skipped)} of {len(summary.skipped) + len(todo)} jobs already done (skipped)")
    ran_groups: set[str] = set()
    remaining = {g.dir: {j.dir for j in g.jobs if j in todo} for g in groups}
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
        transient=False,
    )

    def merge_ready() -> list[Group]:
        return [
            g
            for g in groups
            if not remaining[g.dir]
            and g.dir not in merged_or_queued
            and not any(f[0].startswith(g.label + "/") for f in summary.failed)
            and (g.dir in ran_groups or not merge_done(g))
        ]

    merged_or_queued: set[str] = set()
    with bar, _executor(jobs, workers, scheduler) as ex:
        task = bar.add_task(f"{exp.name}: jobs", total=len(todo))

        def finished_job(job: Job, outcome: JobOutcome | None, error: BaseException | None) -> None:
            remaining[str(Path(job.dir).parent)].discard(job.dir)
            bar.advance(task)
            if error is not None:
                msg = str(error).splitlines()[0] if str(error) else type(error).__name__
                summary.failed.append((job.label, msg))
                console.print(f"[red]failed[/red] {job.label}: {msg}")
                return
            assert outcome is not None
            ran_groups.add(str(Path(job.dir).parent))
            summary.ran.append(job.label)
            summary.outcomes.append(outcome)
            console.print(_line(outcome))

        def finished_merge(group: Group, path: str | None, error: BaseException | None) -> None:
            if error is not None:
                summary.failed.append((group.label + "/merge", str(error).splitlines()[0]))
                console.print(f"[red]failed[/red] merging {group.label}: {error}")
            else:
                summary.merged.append(str(path))
                console.print(f"merged {group.label} over seeds {list(group.seeds)} -> {path}")

        if ex is None:

            def merge_now() -> None:
                for g in merge_ready():
                    merged_or_queued.add(g.dir)
                    try:
                        finished_merge(g, merge_group(g), None)
                    except ModalbenchError as exc:
                        finished_merge(g, None, exc)

            merge_now()  # groups whose jobs were all done before this run but never merged
            for job in todo:
                try:
                    finished_job(job, run_job(job), None)
                except ModalbenchError as exc:
                    finished_job(job, None, exc)
                merge_now()
        else:
            submit, wait = ex
            pending: dict[Any, tuple[str, Any]] = {submit(run_job, j): ("job", j) for j in todo}

            def queue_merges() -> None:
                for g in merge_ready():
                    merged_or_queued.add(g.dir)
                    pending[submit(merge_group, g)] = ("merge", g)

            queue_merges()
            while pending:
                done, _ = wait(list(pending), return_when="FIRST_COMPLETED")
                for fut in done:
                    kind, item = pending.pop(fut)
                    try:
                        value, error = fut.result(), None
                    except Exception as exc:  # reported per job; the run goes on
                        value, error = None, exc
                    if kind == "job":
                        finished_job(item, value, error)
                    else:
                        finished_merge(item, value, error)
                queue_merges()
    summary.results = [str(Path(g.dir) / RESULTS) for g in groups if (Path(g.dir) / RESULTS).is_file()]
    if summary.failed:
        first, msg = summary.failed[0]
        raise ModalbenchError(
            f"{len(summary.failed)} job(s) failed (first: {first}: {msg}); fix it and run again to resume"
        )
    return summary


# ---------------------------------------------------------------- dry run


def dry_run_table(exp: Experiment, root: str | None) -> tuple[Table, list[str]]:
    """The job list (with done/to-run status) and a rough compute estimate, without writing anything."""
    groups = expand(exp, root=root)
    t = Table(title=f"{exp.name}: {sum(len(g.jobs) for g in groups)} jobs in {len(groups)} groups -> {exp.output}")
    for col in ("#", "dataset", "model", "hyperparameters", "seed", "status"):
        t.add_column(col, justify="right" if col in ("#", "seed") else "left")
    todo = 0
    per_dataset: dict[str, int] = {}
    i = 0
    for g in groups:
        for j in g.jobs:
            i += 1
            done = job_done(j)
            todo += not done
            per_dataset[g.dataset] = per_dataset.get(g.dataset, 0) + (not done)
            t.add_row(
                str(i),
                g.dataset,
                g.name,
                json.dumps(g.hparams) if g.hparams else "-",
                str(j.seed),
                "done" if done else "to run",
            )
    ep = exp.training.epochs
    lines = [
        f"to run: {todo} trainings x {ep} epochs = {todo * ep} epochs, then {todo} evaluations on "
        f"{', '.join(exp.scenarios)} and {len(groups)} merged evaluations over {len(exp.seeds)} seeds"
    ]
    for ds in exp.datasets:
        n = per_dataset.get(ds.name, 0)
        try:
            from modalbench.data import open_reader

            n_train = len(open_reader(root, ds.name, "train", ds.task))
            n_test = len(open_reader(root, ds.name, "test", ds.task))
            lines.append(
                f"{ds.name}: {n} x {ep} epochs x {n_train:,} train samples = {n * ep * n_train:,} "
                f"sample-passes (upper bound with early stopping); evaluation on {n_test:,} test samples "
                f"per condition"
            )
        except ModalbenchError:
            lines.append(f"{ds.name}: not prepared yet (`modalbench run` prepares it first)")
    return t, lines


def cmd_run(args: Any) -> int:
    """``modalbench run EXPERIMENT [--jobs N] [--scheduler ADDRESS | --workers N] [--dry-run]``."""
    exp = load_experiment(args.experiment, output=args.out)
    from .workflows import check_amp

    check_amp(args.amp, args.device)
    if args.dry_run:
        table, lines = dry_run_table(exp, args.root)
        out.print(table)
        for line in lines:
            out.print(line)
        return 0
    from modalbench.engine.trainer import resolve_device

    summary = run_experiment(
        exp,
        root=args.root,
        jobs=args.jobs,
        workers=args.workers,
        scheduler=args.scheduler,
        threads=args.threads,
        device=str(resolve_device(args.device)),
        plugins=tuple(args.plugin),
        progress=not args.quiet,
        amp=args.amp,
    )
    from .report import load_results, summary_table

    if summary.results:
        out.print(summary_table(load_results([Path(p) for p in summary.results])))
    out.print(
        f"{len(summary.ran)} job(s) ran, {len(summary.skipped)} skipped; results: "
        f"{exp.output} (modalbench report {exp.output})"
    )
    return 0
