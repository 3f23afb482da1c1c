"""Outside models (``dsta.core.registry``: entry point group ``dsta_bench.models``): the worked example
``examples/dsta_tavg``, installed with pip, runs through the pipeline's stages and gets its row, claims, robustness
and efficiency in the report with no file of this repository edited; each way a plugin can fail is one line that
leaves the other models working."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dsta.core import registry
from dsta.core.errors import DataError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "dsta_tavg"


def _on_path(folder: Path):
    """Put ``folder`` (a site folder with ``*.dist-info``) on sys.path and read the entry points again; returns the
    undo."""
    sys.path.insert(0, str(folder))
    registry.reload_plugins()

    def undo():
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m.split(".")[0] in ("dsta_tavg", "fake_good", "fake_kind", "fake_obj")]:
            del sys.modules[name]
        registry.reload_plugins()

    return undo


@pytest.fixture
def fake_plugins(tmp_path, capsys):
    """Four entry points: one good, one whose module does not import, one of an unknown kind, one not a plugin."""
    dist = tmp_path / "fake_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[dsta_bench.models]\ngood = fake_good:PLUGIN\n"
        "missing = fake_missing:PLUGIN\nbadkind = fake_kind:PLUGIN\n"
        "notaplugin = fake_obj:PLUGIN\ndsta = fake_good:CLASH\n"
    )
    plugin = (
        "from dsta.core.configs import RLEConfig\nfrom dsta.core.registry import ModelPlugin\n"
        "PLUGIN = ModelPlugin(name={name!r}, kind={kind!r}, factory='fake_good:build', config=RLEConfig, "
        "label='Good', configs={configs!r})\n"
    )
    (tmp_path / "fake_good.py").write_text(
        plugin.format(name="good", kind="regression", configs=str(tmp_path / "no_configs"))
        + (
            "def build(**kwargs):\n    from baselines.rle import RegressFlow\n    return RegressFlow(**kwargs)\n"
            "CLASH = ModelPlugin(name='dsta', kind='heatmap', factory='fake_good:build', config=RLEConfig, label='X')\n"
        )
    )
    (tmp_path / "fake_kind.py").write_text(plugin.format(name="badkind", kind="keypoints", configs=None))
    (tmp_path / "fake_obj.py").write_text("PLUGIN = object()\n")
    capsys.readouterr()
    undo = _on_path(tmp_path)
    yield capsys.readouterr().err
    undo()


def test_failing_plugins_are_one_line_each_and_the_others_work(fake_plugins):
    warnings = fake_plugins.strip().splitlines()
    assert len(warnings) == 4 and all(w.startswith("warning: plugin entry point ") for w in warnings), warnings
    assert "dsta = fake_good:CLASH" in fake_plugins and "'dsta' is a model of dsta-bench itself" in fake_plugins
    assert registry.plugin("dsta") is None and registry.load_error("dsta")  # ours, never the plugin's
    assert "missing = fake_missing:PLUGIN (dsta_bench.models) failed to load: ModuleNotFoundError" in fake_plugins
    assert "badkind = fake_kind:PLUGIN" in fake_plugins and "unknown kind 'keypoints'" in fake_plugins
    assert (
        "notaplugin = fake_obj:PLUGIN" in fake_plugins and "expected a dsta.core.registry.ModelPlugin" in fake_plugins
    )
    import dsta.models  # noqa: F401  (ours)

    assert {"dcpose", "dsta", "good", "heatmap_single", "rle"} <= set(registry.list_models())  # (and any installed)
    assert not {"missing", "badkind", "notaplugin"} & set(registry.list_models())
    model = registry.create_model("good", backbone="resnet18", num_frames=1)
    assert registry.model_target("good") == "regression" and model.num_joints == 17
    for name, why in (("missing", "ModuleNotFoundError"), ("badkind", "unknown kind")):
        with pytest.raises(DataError, match=f"model.name: plugin entry point {name} = .*{why}"):
            registry.create_model(name)
    from dsta.core.configs import check_model_kwargs

    with pytest.raises(DataError, match=r"experiments.x.model.name: plugin entry point badkind = fake_kind:PLUGIN"):
        check_model_kwargs("badkind", {}, "experiments.x.model.kwargs")
    check_model_kwargs("good", {"backbone": "resnet18"})  # the plugin's typed config, as ours


def test_a_plugin_config_of_the_other_kind_and_a_missing_extra_config_are_one_line(fake_plugins, capsys):
    from dsta.config import check_experiment, check_params, compose

    params = compose(["experiments=synthetic_tiny"])  # good's configs folder is missing: a warning, nothing breaks
    assert "plugin good.configs: no such folder" in capsys.readouterr().err
    check_params(params)
    cfg = params["experiments"]["rle_ft"]
    cfg["model"]["name"] = "good"
    check_experiment(cfg, "experiments.good")
    cfg["model"]["heatmap"] = {"size": [12, 16], "sigma": 2.0}
    with pytest.raises(DataError, match=r"experiments.good.model.heatmap: not for: plugin good is a regression model"):
        check_experiment(cfg, "experiments.good")
    with pytest.raises(
        DataError,
        match=r"overrides: In 'config': Could not find 'extra/theirs' \(installed "
        r"plugins' extra configs: ",
    ):
        compose(["+extra=theirs"])


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """``pip install examples/dsta_tavg`` (from a copy, so no build folder lands in the repository) into a folder
    put on sys.path: what ``pip install -e examples/dsta_tavg`` does to an environment, undone afterwards."""
    src = tmp_path_factory.mktemp("src") / "dsta_tavg"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    undo = _on_path(site)
    yield site
    undo()


@pytest.mark.slow
def test_example_plugin_runs_through_the_pipeline_into_the_report(example, tmp_path, monkeypatch):
    """The README's commands for an outside model, on a tiny matrix (the example beside the RLE control, one epoch
    of a small synthetic set): compose with ``+extra=tavg_synthetic``, then each dvc stage's entry point as
    dvc.yaml calls it (box prior, train, evaluate, robustness, profile, side by side, report)."""
    from benchmarks import profile
    from dsta import box_prior, config, predict, robustness, train
    from dsta.data.synthetic import SyntheticConfig, generate
    from reporting import build

    monkeypatch.chdir(tmp_path)
    params = config.compose(["+extra=tavg_synthetic"])
    assert params["experiments"]["tavg"]["model"]["name"] == "tavg"
    params["experiments"] = {k: params["experiments"][k] for k in ("tavg", "rle_ft")}
    for cfg in params["experiments"].values():  # tiny: one epoch from scratch, every layer trained
        cfg["model"]["kwargs"]["pretrained"] = None
        cfg["train"].update(epochs=1, batch_size=16, warmup_steps=1)
        cfg["train"].pop("freeze_backbone_epochs", None)
    params["pretrain"] = {}
    params["robustness"] = {"corruptions": ["occlusion", "blank"], "severities": [4], "modes": ["key", "all"]}
    config.check_params(config.derive_box_priors(params))
    Path("params.yaml").write_text(config.to_yaml(params))
    generate(
        Path("data/synthetic"), SyntheticConfig(train_sequences=4, val_sequences=2, frames=8, seed=1, corrupt_prob=0.5)
    )
    box_prior.main(
        [
            "--params",
            "params.yaml",
            "--dataset",
            "synthetic",
            "--data-root",
            "data/synthetic",
            "--out",
            "box_prior/synthetic.json",
        ]
    )
    for key in params["experiments"]:
        train.main(
            ["--params", "params.yaml", "--experiment", key, "--data-root", "data/synthetic", "--out", f"runs/{key}"]
        )
        predict.main(["--checkpoint", f"runs/{key}/last.pt", "--data-root", "data/synthetic", "--out", f"eval/{key}"])
        robustness.main(
            [
                "--params",
                "params.yaml",
                "--checkpoint",
                f"runs/{key}/last.pt",
                "--data-root",
                "data/synthetic",
                "--box-prior",
                "box_prior/synthetic.json",
                "--out",
                f"robustness/{key}",
            ]
        )
        profile.main(
            [
                "--params",
                "params.yaml",
                "--experiment",
                key,
                "--batch",
                "2",
                "--train-batch",
                "2",
                "--warmup",
                "0",
                "--iters",
                "1",
                "--out",
                f"profiles/{key}.json",
            ]
        )
    profile.main(
        [
            "--params",
            "params.yaml",
            "--side-by-side-all",
            "experiments",
            "--batches",
            "1",
            "2",
            "--warmup",
            "0",
            "--iters",
            "1",
            "--rounds",
            "1",
            "--out",
            "profiles/side_by_side/all_experiments.json",
        ]
    )
    assert "streaming" in json.loads(Path("profiles/tavg.json").read_text())["modes"]  # frame_features: 1 pass
    shutil.copy(REPO / "reports" / "reference.yaml", "reference.yaml")
    build.main(
        [
            "--params",
            "params.yaml",
            "--reference",
            "reference.yaml",
            "--runs",
            "runs",
            "--eval",
            "eval",
            "--profiles",
            "profiles",
            "--benchmarks",
            "none.json",
            "--data",
            "data",
            "--out",
            "reports",
            "--robustness",
            "robustness",
        ]
    )
    page = Path("reports/synthetic.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| TempAvg [dsta_tavg] | ResNet-18 | 3 |")]
    assert len(rows) == 1 and "this run [" in rows[0]  # its row, its label, its citation key
    block = page[: page.index(rows[0])].rsplit("| *", 1)[1]
    assert block.startswith("Regression-based, multi-frame, reproduced here*")  # grouped by its declared kind and T
    claims = json.loads(Path("reports/metrics.json").read_text())["claims"]
    ours = {k: c for k, c in claims.items() if k.startswith("tavg_")}
    assert set(ours) == {"tavg_beats_rle_ft", "tavg_beats_rle_ft_corrupted", "tavg_recovers_key_frame"}
    assert all(c["verdict"] != "not measured" for c in ours.values()), ours
    assert "TempAvg" in Path("reports/robustness-synthetic.md").read_text()
    assert Path("reports/figures/synthetic-robustness.png").is_file()
    cost = Path("reports/latex/synthetic-efficiency-cost.tex").read_text()
    speed = Path("reports/latex/synthetic-efficiency-speed.tex").read_text()
    assert "TempAvg" in cost and "TempAvg" in speed
    assert r"TempAvg~\cite{dsta_tavg}" in Path("reports/latex/synthetic.tex").read_text()
    assert Path("reports/latex/plugins.bib").read_text().startswith("@misc{dsta_tavg,")
    assert not (REPO / "examples" / "dsta_tavg" / "build").exists()
    if shutil.which("pdflatex") and shutil.which("bibtex"):  # CI: the tables with the plugin's row compile, cited
        from tests.test_latex import compile_tables, problems

        tables = [t for t in sorted(Path("reports/latex").glob("*.tex")) if t.name != "preamble.tex"]
        log = compile_tables(
            tmp_path / "doc", tables, Path("reports/figures"), bibs=(Path("reports/latex/plugins.bib"),)
        )
        assert problems(log) == []
