"""The package's folder-level import graph, read from the source with ``ast``, and the layering rules it must obey.

Folders: ``core`` (``modalbench/*.py``), ``app`` (``modalbench/app/``) and the stages ``loaders``, ``preprocess``,
``scenarios``, ``baselines``, ``engine``, ``leaderboard``. Rules:

* the core imports no stage and not the app;
* a stage imports only the core (exception: ``loaders`` may import ``preprocess.types``);
* nothing imports the app but the entry points (``pyproject.toml``'s console script, ``modalbench/__main__.py``);
* imports inside functions may not cross folders outside the app (a hidden edge no reader or tool sees).

Run ``python tools/import_graph.py`` for the edge list and the problems (exit 1 when there are any).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

STAGES = ("loaders", "preprocess", "scenarios", "baselines", "engine", "leaderboard")
ALLOWED_STAGE_EDGES = {("loaders", "preprocess.types")}


def _folder_of(path: Path, repo: Path) -> str:
    rel = path.relative_to(repo).parts
    if rel[0] == "modalbench":
        return "app" if len(rel) > 2 and rel[1] == "app" else "core"
    return rel[0]


def _module_of(path: Path, repo: Path) -> str:
    """Dotted installed name: ``loaders/x.py`` -> ``modalbench.loaders.x``."""
    rel = path.relative_to(repo).with_suffix("").parts
    parts = list(rel) if rel[0] == "modalbench" else ["modalbench", *rel]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _target(name: str) -> tuple[str, str] | None:
    """``modalbench.scenarios.fill`` -> (``scenarios``, ``scenarios.fill``); core -> (``core``, ...)."""
    parts = name.split(".")
    if parts[0] != "modalbench":
        return None
    if len(parts) == 1:
        return "core", "modalbench"
    if parts[1] in STAGES:
        return parts[1], ".".join(parts[1:])
    if parts[1] == "app":
        return "app", ".".join(parts[1:])
    return "core", ".".join(parts[1:])


def _imports(path: Path, repo: Path) -> list[tuple[str, int, bool]]:
    """(absolute module name, line, inside a function) of every import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_of(path, repo)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                names = [f"{mod}.{a.name}" for a in child.names] if not child.module else [mod]
                found.extend((n, child.lineno, in_function) for n in names)
            visit(child, nested)

    visit(tree, False)
    return found


def _sources(repo: Path) -> list[Path]:
    files: list[Path] = []
    for folder in ("modalbench", *STAGES):
        if (repo / folder).is_dir():
            files.extend(p for p in sorted((repo / folder).rglob("*.py")) if "__pycache__" not in p.parts)
    return files


def folder_edges(repo: Path) -> set[tuple[str, str]]:
    """Folder-level edges ``(importer, imported)`` between different folders."""
    edges = set()
    for path in _sources(repo):
        src = _folder_of(path, repo)
        for name, _, _ in _imports(path, repo):
            tgt = _target(name)
            if tgt and tgt[0] != src:
                edges.add((src, tgt[0]))
    return edges


def layering_problems(repo: Path) -> list[str]:
    """Every import that breaks the rules, as ``file:line: message``."""
    problems = []
    for path in _sources(repo):
        src = _folder_of(path, repo)
        rel = path.relative_to(repo).as_posix()
        for name, line, in_function in _imports(path, repo):
            tgt = _target(name)
            if tgt is None or tgt[0] == src:
                continue
            folder, dotted = tgt
            where = f"{rel}:{line}"
            if folder == "app" and path.name != "__main__.py":
                problems.append(f"{where}: imports the app layer ({name}); only the entry point may")
            elif folder == "app":
                continue
            elif src == "core" and folder != "core":
                problems.append(f"{where}: the core imports the stage {folder!r} ({name})")
            elif (
                src in STAGES
                and folder in STAGES
                and not any(src == a and dotted.startswith(b) for a, b in ALLOWED_STAGE_EDGES)
            ):
                problems.append(f"{where}: stage {src!r} imports stage {folder!r} ({name})")
            elif in_function and src != "app" and folder != "core":
                problems.append(f"{where}: function-level import across folders ({name})")
    return problems


def main() -> int:
    repo = Path(__file__).resolve().parents[1]
    for a, b in sorted(folder_edges(repo)):
        print(f"{a} -> {b}")
    problems = layering_problems(repo)
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
