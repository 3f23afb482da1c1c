"""dvc.yaml's code deps are the import graph's: every project file a stage's entry point runs, directly or through
other modules (grimp's graph, the one import-linter checks), is a dep of that stage, so editing it re-runs the stage;
the lists are generated (``python -m tests.dvc_deps --write``, ``tests/dvc_deps.py`` says how), never kept by hand."""

from pathlib import Path

import pytest

from tests.dvc_deps import ROOT, build_graph, code_files, covered_by, entry_modules, generated, listed, rewrite, stages


@pytest.fixture(scope="module")
def graph():
    return build_graph()


@pytest.mark.parametrize("name", sorted(stages()))
def test_stage_code_deps_are_the_generated_ones(name, graph):
    stage = stages()[name]
    assert listed(stage) == generated(graph, stage), (
        f"dvc.yaml stage {name!r}: its code deps are not the import graph's; run python -m tests.dvc_deps --write"
    )


@pytest.mark.parametrize("name", sorted(stages()))
def test_stage_deps_cover_the_code_it_runs(name, graph):
    """What the generated list must hold whatever the grouping: every file the stage runs, and nothing absent."""
    stage = stages()[name]
    runs = code_files(graph, entry_modules(stage["cmd"]))
    assert all(covered_by(f, listed(stage)) for f in runs)
    assert all((ROOT / d).exists() for d in listed(stage))


def test_a_missing_import_is_found(graph):
    """The check itself: the report stage runs reporting/build.py, which imports dsta/core/provenance.py (and the RLE
    flow is part of what train runs), so dropping either from the deps must show up."""
    report = code_files(graph, entry_modules(stages()["report"]["cmd"]))
    assert ROOT / "dsta" / "core" / "provenance.py" in report
    train = code_files(graph, entry_modules(stages()["train"]["cmd"]))
    assert ROOT / "dsta" / "nn" / "rle_flow.py" in train and ROOT / "baselines" / "dcpose.py" in train
    assert not covered_by(ROOT / "dsta" / "nn" / "rle_flow.py", ["dsta/models", "dsta/data"])


def test_rewrite_replaces_code_deps_only():
    """The writer keeps every other line: data deps, comments, the command, the outputs."""
    text = (
        "stages:\n  s:\n    cmd: python -m dsta.x\n    deps:   # what it reads\n      - data/a\n"
        "      - dsta/core/io.py\n      - dsta/core/errors.py\n      - configs/model\n    outs:\n      - out\n"
    )
    new = rewrite(text, {"s": ["dsta/core/keypoints.py"]})
    assert new == text.replace(
        "      - dsta/core/io.py\n      - dsta/core/errors.py\n", "      - dsta/core/keypoints.py\n"
    )
    assert Path(ROOT / "dvc.yaml").is_file()
