"""Compose-time validation (dsta.config.check_params with the typed model configs of dsta.core.configs): a bad config
fails when params.yaml is composed, naming the key the user wrote; and the typed configs mirror the model
constructors."""

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from dsta.config import check_params, compose
from dsta.core.configs import MODEL_CONFIGS, check_input_size, check_model_kwargs
from dsta.core.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def compose_error(*overrides: str) -> DataError:
    with pytest.raises(DataError) as err:
        check_params(compose(list(overrides)))
    return err.value


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        (["experiments.dsta_t3.model.kwargs.num_frames=4"], "experiments.dsta_t3.model.kwargs.num_frames", "odd"),
        (["experiments.dsta_t3.model.kwargs.num_frames=0"], "experiments.dsta_t3.model.kwargs.num_frames", "odd"),
        (
            ["experiments=paper_posetrack18", "experiments.rle_r50.model.kwargs.num_frames=3"],
            "experiments.rle_r50.model.kwargs.num_frames",
            "[1]",
        ),
        (["experiments.dcpose.model.kwargs.num_frames=5"], "experiments.dcpose.model.kwargs.num_frames", "[3]"),
        (
            ["experiments.heatmap_single.model.kwargs.backbone=resnet51"],
            "experiments.heatmap_single.model.kwargs.backbone",
            "resnet51",
        ),
        (["experiments.dsta_t3.data.input_size=[16,64]"], "experiments.dsta_t3.data.input_size", "stride"),
        (["experiments.dsta_t3.data.input_size=[48]"], "experiments.dsta_t3.data.input_size", "[width, height]"),
        (
            ["experiments.heatmap_single.model.heatmap.size=[16,16]"],
            "experiments.heatmap_single.model.heatmap.size",
            "quarter",
        ),
        (["experiments.dsta_t3.model.kwargs.embed_dim=30"], "experiments.dsta_t3.model.kwargs.embed_dim", "num_heads"),
        (["+experiments.dsta_t3.model.kwargs.depht=3"], "experiments.dsta_t3.model.kwargs.depht", "no argument"),
        (
            ["experiments=paper_posetrack18", "experiments.dsta_hrnet_w48_t3.data.input_size=[190,256]"],
            "experiments.dsta_hrnet_w48_t3.data.input_size",
            "divisible by 32",
        ),
        (
            ["paper_profiles.models.dsta_r50_t5.overrides='num_frames=4'"],
            "paper_profiles.models.dsta_r50_t5.overrides.num_frames",
            "odd",
        ),
        (["paper_profiles.fast_mode=cl+bf16"], "paper_profiles.fast_mode", "dtype comes first"),
        (["side_by_side.experiments.rounds=0"], "side_by_side.experiments.rounds", "an integer >= 1"),
        (["paper_profiles.fast_mode=bf16+fast"], "paper_profiles.fast_mode", "at most once"),
    ],
)
def test_bad_config_fails_at_compose_naming_the_key(overrides, field, words):
    err = compose_error(*overrides)
    assert err.field == field
    assert words in err.message


def test_every_shipped_matrix_passes():
    for matrix in ("synthetic_tiny", "paper_posetrack17", "paper_posetrack18", "paper_posetrack21"):
        check_params(compose([f"experiments={matrix}"]))


def test_cli_refuses_even_t_and_writes_nothing(tmp_path):
    out = tmp_path / "params.yaml"
    r = subprocess.run(
        [sys.executable, "-m", "dsta.config", "experiments.dsta_t3.model.kwargs.num_frames=4", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "error: experiments.dsta_t3.model.kwargs.num_frames: must be a positive odd number (1, 3, 5, ...), got 4"
    )
    assert not out.exists()


def test_typed_configs_mirror_the_constructors():
    """Each typed config has exactly its model constructor's arguments, so compose checks what the model takes."""
    from dsta.core.registry import _factories
    from dsta.models import own_models

    assert sorted(MODEL_CONFIGS) == own_models()
    for name, cls in MODEL_CONFIGS.items():
        model_cls = inspect.signature(_factories[name]).return_annotation
        model_cls = (
            getattr(sys.modules[_factories[name].__module__], model_cls) if isinstance(model_cls, str) else model_cls
        )
        args = [p for p in inspect.signature(model_cls.__init__).parameters if p != "self"]
        assert sorted(args) == sorted(f.name for f in dataclasses.fields(cls)), name


def test_one_list_of_backbones():
    from dsta.core import configs
    from dsta.nn import backbones

    assert backbones.BACKBONES is configs.BACKBONES


def test_missing_and_unknown_arguments():
    with pytest.raises(DataError, match="needs backbone") as err:
        check_model_kwargs("dsta", {}, "overrides")
    assert err.value.field == "overrides.backbone"
    with pytest.raises(DataError, match="unknown model") as err:
        check_model_kwargs("nosuch", {}, "experiments.x.model.kwargs")
    assert err.value.field == "experiments.x.model.name"


def test_input_size():
    assert check_input_size([48, 64], "resnet18") == (48, 64)
    assert check_input_size([192, 256], "hrnet_w48") == (192, 256)
    with pytest.raises(DataError, match="divisible"):
        check_input_size([48, 64], "hrnet_w32")


def test_train_refuses_a_hand_edited_even_t_before_making_anything(tmp_path):
    import yaml

    params = compose()
    params["experiments"]["dsta_t3"]["model"]["kwargs"]["num_frames"] = 4
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "runs" / "dsta_t3"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "dsta.train",
            "--params",
            str(tmp_path / "params.yaml"),
            "--experiment",
            "dsta_t3",
            "--data-root",
            str(tmp_path / "data"),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "experiments.dsta_t3.model.kwargs.num_frames" in r.stderr
    assert not out.exists()


def test_train_failing_on_bad_data_leaves_nothing(tmp_path):
    import yaml

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(compose()))
    out = tmp_path / "runs" / "dsta_t3_scratch"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "dsta.train",
            "--params",
            str(tmp_path / "params.yaml"),
            "--experiment",
            "dsta_t3_scratch",
            "--data-root",
            str(tmp_path / "no_data"),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "annotation directory not found" in r.stderr
    assert not out.exists()


# -- issue 22: typed train and data keys, at compose time ----------------------------------------------------------
@pytest.mark.parametrize(
    "override, field, words",
    [
        ("experiments.dsta_t3_scratch.train.lr=-0.001", "experiments.dsta_t3_scratch.train.lr", "must be > 0"),
        ("experiments.dsta_t3_scratch.train.epochs=two", "experiments.dsta_t3_scratch.train.epochs", "integer"),
        ("experiments.dsta_t3_scratch.train.epochs=2.5", "experiments.dsta_t3_scratch.train.epochs", "integer"),
        ("experiments.dsta_t3.train.lr='1e-3'", "experiments.dsta_t3.train.lr", "write it as 0.001"),
        ("experiments.dsta_t3.train.batch_size=0", "experiments.dsta_t3.train.batch_size", ">= 1"),
        ("experiments.dsta_t3.train.weight_decay=-1", "experiments.dsta_t3.train.weight_decay", ">= 0"),
        ("+experiments.dsta_t3.train.milestones=[3,1]", "experiments.dsta_t3.train.milestones", "not read by"),
        (
            "experiments.dsta_t3.train.schedule=multistep",
            "experiments.dsta_t3.train.warmup_steps",
            "only schedule: cosine",
        ),
        (
            "experiments=paper_posetrack17 experiments.dsta_r50_t3.train.milestones=[3,1]",
            "experiments.dsta_r50_t3.train.milestones",
            "increasing",
        ),
        ("experiments.dsta_t3.train.schedule=step", "experiments.dsta_t3.train.schedule", "one of"),
        ("experiments.dsta_t3.train.warmup_steps=-1", "experiments.dsta_t3.train.warmup_steps", ">= 0"),
        ("experiments.dsta_t3.train.amp=yes_please", "experiments.dsta_t3.train.amp", "true or false"),
        ("experiments.dsta_t3.train.workers=-1", "experiments.dsta_t3.train.workers", ">= 0"),
        ("experiments.dsta_t3.data.frame_distance=0", "experiments.dsta_t3.data.frame_distance", ">= 1"),
        ("experiments.dsta_t3.data.box_enlarge=0", "experiments.dsta_t3.data.box_enlarge", "> 0"),
        ("experiments.dsta_t3.data.box_score_threshold=1.5", "experiments.dsta_t3.data.box_score_threshold", "<= 1"),
        ("experiments.dsta_t3.data.augment.flip_prob=2", "experiments.dsta_t3.data.augment.flip_prob", "<= 1"),
        (
            "experiments.dsta_t3.data.augment.rotate_factor=lots",
            "experiments.dsta_t3.data.augment.rotate_factor",
            "number",
        ),
        ("pretrain.rle.train.lr=0", "pretrain.rle.train.lr", "must be > 0"),
    ],
)
def test_bad_train_or_data_value_fails_at_compose_naming_the_key(override, field, words):
    err = compose_error(*override.split())
    assert err.field == field
    assert words in err.message


def test_cli_refuses_a_negative_lr_and_keeps_the_old_params(tmp_path):
    out = tmp_path / "params.yaml"
    out.write_text("# the previous params\n")
    r = subprocess.run(
        [sys.executable, "-m", "dsta.config", "experiments.dsta_t3_scratch.train.lr=-0.001", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.strip() == "error: experiments.dsta_t3_scratch.train.lr: must be > 0, got -0.001"
    assert out.read_text() == "# the previous params\n"


def test_train_refuses_lr_read_as_a_string_before_making_anything(tmp_path):
    import yaml

    params = compose()
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump(params).replace("lr: 0.001", "lr: 1e-3")
    )  # YAML 1.1 reads 1e-3 as a string
    assert isinstance(yaml.safe_load((tmp_path / "params.yaml").read_text())["pretrain"]["rle"]["train"]["lr"], str)
    out = tmp_path / "runs" / "rle"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "dsta.train",
            "--params",
            str(tmp_path / "params.yaml"),
            "--section",
            "pretrain",
            "--experiment",
            "rle",
            "--data-root",
            str(tmp_path / "data"),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "pretrain.rle.train.lr: must be a number, got '1e-3'" in r.stderr and not out.exists()
