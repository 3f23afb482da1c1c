"""dvc.yaml's code deps follow the code: every project file a stage's entry point imports, directly or through other
modules (the grimp import graph that import-linter checks), is a dep of that stage, so editing it re-runs the stage.

A stage's entry point is the module of its ``python -m X`` command; for ``python -m pytest DIR`` it is every test
module (``bm_*.py``, ``conftest.py``) under DIR. A file is covered when it is listed or lies in a listed directory.
Package ``__init__.py`` files run on every import of their package, so they count too, unless they hold nothing but a
docstring.
"""

import ast
import re
from pathlib import Path

import grimp
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dsta", "baselines", "benchmarks", "reporting")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def stages() -> dict[str, dict]:
    """Each stage of dvc.yaml (the ``do`` template of a ``foreach`` stage)."""
    doc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    return {name: stage.get("do", stage) for name, stage in doc["stages"].items()}


def module_file(module: str) -> Path:
    path = ROOT / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def entry_modules(cmd: str) -> list[str]:
    module = re.search(r"python -m (\S+)", cmd).group(1)
    if module != "pytest":
        return [module]
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


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT)
    return any(rel == Path(d) or Path(d) in rel.parents for d in deps)


def code_deps(stage: dict) -> list[str]:
    """The stage's deps that are paths in the repository (templated data paths such as data/${key} are not code)."""
    return [d for d in stage.get("deps", []) if "${" not in d]


@pytest.mark.parametrize("name", sorted(stages()))
def test_stage_deps_cover_the_code_it_imports(name, graph):
    stage = stages()[name]
    deps = code_deps(stage)
    missing = sorted(
        str(f.relative_to(ROOT)) for f in code_files(graph, entry_modules(stage["cmd"])) if not covered(f, deps)
    )
    assert not missing, f"dvc.yaml stage {name!r} runs these files but does not list them in deps: {missing}"


@pytest.mark.parametrize("name", sorted(stages()))
def test_stage_code_deps_exist(name):
    """A dep that names a file the code no longer has (a module turned into a package, say) fails dvc repro."""
    absent = [d for d in code_deps(stages()[name]) if d.startswith(PACKAGES) and not (ROOT / d).exists()]
    assert not absent, f"dvc.yaml stage {name!r} lists deps that do not exist: {absent}"


def test_a_missing_import_is_found(graph):
    """The check itself: the report stage runs reporting/build.py, which imports dsta/provenance.py (and the RLE flow is
    part of what train runs), so dropping either from the deps must show up."""
    report = code_files(graph, entry_modules(stages()["report"]["cmd"]))
    assert ROOT / "dsta" / "provenance.py" in report
    train = code_files(graph, entry_modules(stages()["train"]["cmd"]))
    assert ROOT / "dsta" / "rle.py" in train and ROOT / "baselines" / "dcpose.py" in train
    assert not covered(ROOT / "dsta" / "rle.py", ["dsta/models", "dsta/data"])
