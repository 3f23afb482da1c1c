"""dvc.yaml's code deps, generated from the import graph: ``python -m tests.dvc_deps --write`` rewrites each stage's
code deps, ``--check`` exits 1 naming the stages whose list is not the generated one (tests/test_dvc_deps.py does
the same).

A stage's code is every project file its entry point runs: the module of its ``python -m X`` command (for ``python -m
pytest DIR``, every ``bm_*.py`` and ``conftest.py`` under DIR), every module those import, directly or not (grimp's
import graph, the one import-linter checks), and the ``__init__.py`` of each package on the way, unless it holds
nothing but a docstring. A folder whose every such file the stage runs is listed as the folder (``dsta/models``), and a
subpackage of which it runs at least half too, so a stage lists what it reads, not thirty files; its other deps (data,
configs, outputs of earlier stages) and their order are kept as written.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import grimp
import yaml

from dsta.core.errors import doc_summary

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dsta", "baselines", "benchmarks", "reporting")
DVC_YAML = ROOT / "dvc.yaml"


def build_graph():
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def stages(text: str | None = None) -> dict[str, dict]:
    """Each stage of dvc.yaml (the ``do`` template of a ``foreach`` stage)."""
    doc = yaml.safe_load(DVC_YAML.read_text() if text is None else text)
    return {name: stage.get("do", stage) for name, stage in doc["stages"].items()}


def module_file(module: str) -> Path:
    path = ROOT / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def entry_modules(cmd: str) -> list[str]:
    found = re.search(r"python -m (\S+)", cmd)
    if found is None:
        raise ValueError(f"not a python -m command: {cmd!r}")
    if found.group(1) != "pytest":
        return [found.group(1)]
    args = cmd.split("-m pytest", 1)[1].split()
    dirs = [a for a in args if not a.startswith("-") and (ROOT / a).is_dir()]
    return [
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for d in dirs
        for p in sorted((ROOT / d).glob("*.py"))
        if p.name.startswith("bm_") or p.name == "conftest.py"
    ]


def runs_code(path: Path) -> bool:
    """False for a package ``__init__.py`` that holds only a docstring (importing it can change nothing)."""
    body = ast.parse(path.read_text()).body
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body)


def code_files(graph, entries: list[str]) -> set[Path]:
    """The project files that running ``entries`` executes: the modules themselves, every module they import
    transitively, and the ``__init__.py`` of each package on the way."""
    modules = set(entries)
    for entry in entries:
        modules |= graph.find_upstream_modules(entry)
    for module in list(modules):
        parts = module.split(".")
        modules |= {".".join(parts[:i]) for i in range(1, len(parts))}
    files = {module_file(m) for m in modules}
    return {f for f in files if f.name != "__init__.py" or runs_code(f)}


def is_code(dep: str) -> bool:
    """A dep that names project code: a .py file or a folder of one of the packages (a templated path is data)."""
    if "${" in dep or Path(dep).parts[0] not in PACKAGES:
        return False
    return dep.endswith(".py") or (ROOT / dep).is_dir()


def generated(graph, stage: dict) -> list[str]:
    """The code deps of ``stage``: its files, a folder in place of its files where it runs every one of them, or, for
    a subpackage (``dsta/data``, ``dsta/models``, ``baselines/...``), at least half of them (an edit elsewhere in it
    then re-runs the stage too: a short list a reader checks at a glance, at the price of a rare extra run)."""
    needed = {f.relative_to(ROOT) for f in code_files(graph, entry_modules(stage["cmd"]))}
    out = set(needed)
    folders = {p for f in needed for p in f.parents if p != Path(".")}
    for folder in sorted(folders, key=lambda p: -len(p.parts)):  # deepest first: a package before its parent
        files = {
            f.relative_to(ROOT)
            for f in (ROOT / folder).rglob("*.py")
            if "__pycache__" not in f.parts and (f.name != "__init__.py" or runs_code(f))
        }
        runs = len(files & needed)
        if files and (files <= needed or (len(folder.parts) > 1 and 2 * runs >= len(files))):
            out = {p for p in out if folder not in p.parents} | {folder}
    return sorted(str(p) for p in out)


def rewrite(text: str, deps: dict[str, list[str]]) -> str:
    """dvc.yaml with each stage's code deps replaced by ``deps[stage]``, where its first code dep was; every other
    line (other deps, comments, commands, outputs) as it was."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    stage = None
    i = 0
    while i < len(lines):
        line = lines[i]
        named = re.match(r"^  ([A-Za-z_][\w-]*):\s*(#.*)?$", line)
        if named:
            stage = named.group(1)
        block = re.match(r"^(\s+)deps:", line)
        out.append(line)
        i += 1
        if not block or stage not in deps:
            continue
        item = re.compile(rf"^{block.group(1)}  - (\S+)")
        placed = False
        while i < len(lines) and item.match(lines[i]):
            if is_code(item.match(lines[i]).group(1)):
                if not placed:
                    out += [f"{block.group(1)}  - {d}\n" for d in deps[stage]]
                    placed = True
            else:
                out.append(lines[i])
            i += 1
        if not placed:
            raise ValueError(f"dvc.yaml stage {stage!r}: no code dep to replace")
    return "".join(out)


def covered_by(path: Path, deps: list[str]) -> bool:
    """Whether ``path`` is one of ``deps`` or lies in a folder of them."""
    rel = path.relative_to(ROOT)
    return any(rel == Path(d) or Path(d) in rel.parents for d in deps)


def listed(stage: dict) -> list[str]:
    return [d for d in stage.get("deps", []) if is_code(d)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--write", action="store_true", help="rewrite dvc.yaml's code deps")
    p.add_argument("--check", action="store_true", help="exit 1 if a stage's code deps are not the generated ones")
    a = p.parse_args(argv)
    graph = build_graph()
    want = {name: generated(graph, stage) for name, stage in stages().items()}
    stale = sorted(name for name, stage in stages().items() if listed(stage) != want[name])
    if a.write and stale:
        text = rewrite(DVC_YAML.read_text(), want)
        assert {name: listed(s) for name, s in stages(text).items()} == want
        DVC_YAML.write_text(text)
        print(f"dvc.yaml: code deps of {', '.join(stale)} rewritten")
    elif stale:
        print(
            f"dvc.yaml: code deps of {', '.join(stale)} are not the import graph's (python -m tests.dvc_deps --write)"
        )
        return 1 if a.check else 0
    else:
        print("dvc.yaml: every stage's code deps are the import graph's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
