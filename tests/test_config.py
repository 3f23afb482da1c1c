import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dsta.config import base_name, check_params, compose, expand_seeds
from dsta.core.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def test_params_yaml_is_the_composed_config():
    r = subprocess.run([sys.executable, "-m", "dsta.config", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def lookup(node: dict, dotted: str):
    for part in dotted.split("."):
        node = node[part]
    return node


def test_every_dvc_param_exists():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    for stage in dvc["stages"].values():
        body = stage.get("do", stage)
        keys = list(lookup(params, stage["foreach"][2:-1])) if "foreach" in stage else [None]
        for key, p in ((k, p) for k in keys for p in body.get("params", [])):
            p = str(p).replace("${key}", str(key))
            node = params
            for part in str(p).split("."):
                assert part in node, p
                node = node[part]


def test_bad_override():
    with pytest.raises(DataError, match="overrides"):
        compose(["data=nonexistent"])


def test_override_errors_name_the_key_as_written_and_what_there_is():
    """A misspelt option of a group lists the group's choices; a key that is not in the config says so, with the keys
    beside it; the example of ``--help`` composes."""
    from dsta.config import HELP_EXAMPLE

    with pytest.raises(
        DataError,
        match=r"experiments=paper_pt17: no such experiments config; the choices: .*"
        r"paper_posetrack17, .*synthetic_tiny",
    ):
        compose(["experiments=paper_pt17"])
    with pytest.raises(
        DataError,
        match=r"experiments.dsta_t3.train.epochz: not in the config \(experiments.dsta_t3"
        r".train has epochs, ",
    ):
        compose(["experiments.dsta_t3.train.epochz=3"])
    params = compose(HELP_EXAMPLE.split())
    assert params["experiments"]["dsta_r50_t3"]["train"]["epochs"] == 10
    check_params(params)


@pytest.mark.parametrize("dataset", ["posetrack17", "posetrack18", "posetrack21"])
def test_paper_experiments_compose(dataset):
    exps = compose([f"experiments=paper_{dataset}"])["experiments"]
    assert set(exps) == {"dsta_r50_t3", "dsta_r50_t5", "dsta_hrnet_w48_t3", "rle_r50", "dcpose_hrnet_w48"}
    assert all(e["data"]["name"] == dataset for e in exps.values())
    assert all(
        e["data"]["input_size"] == ([288, 384] if k == "dcpose_hrnet_w48" else [192, 256]) for k, e in exps.items()
    )
    assert exps["dsta_r50_t5"]["model"]["kwargs"]["num_frames"] == 5
    assert exps["dsta_r50_t3"]["model"]["kwargs"]["num_frames"] == 3
    assert exps["dsta_r50_t3"]["train"]["lr"] == 5e-5 and exps["dsta_r50_t3"]["train"]["milestones"] == [10, 15]
    # the release's optimizer details: AdamW weight decay 0.01, no clipping, fp32; +-1 neighbours; official draws
    assert {k: exps["dsta_r50_t3"]["train"][k] for k in ("weight_decay", "grad_clip", "amp")} == {
        "weight_decay": 0.01,
        "grad_clip": 0.0,
        "amp": False,
    }
    assert all(
        e["data"]["max_frame_distance"] == 1 and e["data"]["augment"]["distribution"] == "official"
        for e in exps.values()
    )
    dcpose = exps["dcpose_hrnet_w48"]
    assert dcpose["model"]["kwargs"]["dilations"] == [3, 6, 9, 12, 15]
    assert dcpose["model"]["kwargs"]["freeze_rough"] is True and dcpose["model"]["heatmap"] == {
        "size": [72, 96],
        "sigma": 3.0,
    }
    assert (dcpose["train"]["lr"], dcpose["train"]["gamma"]) == (
        (1e-3, 0.1) if dataset == "posetrack17" else (1e-4, 0.99)
    )
    # every weights file a paper experiment names is in the weights group, whose used_by says which model configs
    weights = compose([f"experiments=paper_{dataset}"])["weights"]
    files = {w["file"]: w for w in weights.values()}
    for e in exps.values():
        assert e["model"]["kwargs"]["pretrained"] in files
    # the smoke matrix: the same experiments and recipes, random init, batch 2, one epoch
    smoke = compose([f"experiments=paper_{dataset}_smoke"])["experiments"]
    assert set(smoke) == set(exps)
    for key, e in smoke.items():
        assert e["model"]["kwargs"]["pretrained"] is None and (e["train"]["batch_size"], e["train"]["epochs"]) == (2, 1)
        assert e["data"] == exps[key]["data"] and e["train"]["lr"] == exps[key]["train"]["lr"]


def test_weights_used_by_follows_the_model_configs():
    """configs/weights/NAME.yaml ``used_by`` lists exactly the model configs whose pretrained is that file and the
    released entries (``released/NAME``) whose weights it is."""
    for path in sorted((ROOT / "configs" / "weights").glob("*.yaml")):
        entry = yaml.safe_load(path.read_text())
        users = sorted(
            p.stem
            for p in (ROOT / "configs" / "model").glob("*.yaml")
            if (yaml.safe_load(p.read_text())["kwargs"].get("pretrained")) == entry["file"]
        )
        users += sorted(
            f"released/{p.stem}"
            for p in (ROOT / "configs" / "released").glob("*.yaml")
            if yaml.safe_load(p.read_text())["weights"] == entry["file"]
        )
        assert sorted(entry["used_by"]) == users, path.name


def test_released_entries_of_the_paper_matrices():
    """PoseTrack17 evaluates DSTA's and DCPose's releases beside the experiments they match, each with its release's
    test protocol (DCPose's val_boxes.json, score threshold 0.2, no flip) and network; the other matrices and the
    synthetic default have none."""
    params = compose(["experiments=paper_posetrack17"])
    check_params(params)
    released = params["released"]
    assert set(released) == {"dsta_r50_t3", "dcpose_hrnet_w48"}
    for key, entry in released.items():
        assert entry["match"] == key and entry["data"]["name"] == "posetrack17"
        assert (entry["data"]["boxes"], entry["data"]["box_score_threshold"], entry["test"]) == (
            "boxes/val_detections.json",
            0.2,
            {"flip": False},
        )
        assert entry["model"]["kwargs"]["pretrained"] is None
    assert released["dsta_r50_t3"]["model"]["kwargs"]["official_readout"] is True
    assert released["dcpose_hrnet_w48"]["data"]["input_size"] == [288, 384]
    assert compose(["experiments=paper_posetrack17_smoke"])["released"] == released
    for matrix in ("synthetic_tiny", "paper_posetrack18", "paper_posetrack21"):
        assert compose([f"experiments={matrix}"])["released"] == {}, matrix


@pytest.mark.parametrize(
    "override,key",
    [
        ("released.dsta_r50_t3.converter=baselines.convert_dcpose", "released.dsta_r50_t3.converter"),
        ("released.dsta_r50_t3.weights=weights/other.pth", "released.dsta_r50_t3.weights"),
        ("released.dcpose_hrnet_w48.match=nothing", "released.dcpose_hrnet_w48.match"),
        ("released.dcpose_hrnet_w48.test.flip=maybe", "released.dcpose_hrnet_w48.test.flip"),
        ("released.dsta_r50_t3.model.kwargs.num_frames=4", "released.dsta_r50_t3.model.kwargs.num_frames"),
    ],
)
def test_bad_released_entry_is_named_at_compose_time(override, key):
    with pytest.raises(DataError, match=key.replace(".", r"\.")):
        check_params(compose(["experiments=paper_posetrack17", override]))


def test_reported_rows_match_paper_experiments():
    ref = yaml.safe_load((ROOT / "reports" / "reference.yaml").read_text())
    names = set(compose(["experiments=paper_posetrack17"])["experiments"])
    for dataset in ("posetrack17", "posetrack18", "posetrack21"):
        for row in ref[dataset]:
            assert row["cite"] in ref["citations"], row
            assert row.get("match") is None or row["match"] in names, row
            assert len(row["ap"]) == len(ref["columns"]) == 8


def test_default_matrix_is_the_synthetic_t_ablation_and_the_baselines():
    params = compose()
    exps = params["experiments"]
    assert {k: e["model"]["kwargs"]["num_frames"] for k, e in exps.items() if e["model"]["name"] == "dsta"} == {
        "dsta_t1": 1,
        "dsta_t3": 3,
        "dsta_t5": 5,
        "dsta_t3_scratch": 3,
    }
    assert {e["model"]["name"] for e in exps.values()} == {"dsta", "rle", "heatmap_single", "dcpose"}
    assert all(e["data"]["name"] == "synthetic" for e in exps.values())
    # DSTA and its compute-matched RLE control start from the pretrain stage's backbone, with one recipe
    assert list(params["pretrain"]) == ["rle"]
    for key in ("dsta_t1", "dsta_t3", "dsta_t5", "rle_ft"):
        assert exps[key]["model"]["kwargs"]["pretrained"] == "pretrain/rle/backbone.pt"
        assert exps[key]["train"] == exps["rle_ft"]["train"]
    assert exps["dsta_t3_scratch"]["model"]["kwargs"]["pretrained"] is None


def test_gpu_schedule_has_two_seeds_and_the_same_matrix():
    tiny, gpu = compose(), compose(["experiments=synthetic_gpu"])
    assert len(gpu["seeds"]) >= 2 and gpu["synthetic"]["train_sequences"] > tiny["synthetic"]["train_sequences"]
    first, second = gpu["seeds"][:2]
    assert {base_name(k) for k in gpu["experiments"]} >= set(tiny["experiments"]) - {"dsta_t3_scratch"}
    assert gpu["experiments"][f"dsta_t3-s{second}"]["train"]["seed"] == second
    assert (
        gpu["experiments"][f"dsta_t3-s{second}"]["model"]["kwargs"]["pretrained"]
        == f"pretrain/rle-s{second}/backbone.pt"
    )
    assert gpu["experiments"]["dsta_t3"]["train"]["seed"] == first


def test_seed_axis_names_and_pretrained_paths():
    params = expand_seeds(
        {
            "seeds": [3, 4],
            "pretrain": {"p": {"train": {"seed": 0}}},
            "experiments": {
                "a": {"train": {"seed": 0}, "model": {"kwargs": {"pretrained": "pretrain/p/backbone.pt"}}},
                "b": {"train": {"seed": 0}, "model": {"kwargs": {"pretrained": "weights/x.pth"}}},
            },
        }
    )
    assert list(params["pretrain"]) == ["p", "p-s4"] and list(params["experiments"]) == ["a", "a-s4", "b", "b-s4"]
    assert params["experiments"]["a-s4"]["model"]["kwargs"]["pretrained"] == "pretrain/p-s4/backbone.pt"
    assert params["experiments"]["a"]["model"]["kwargs"]["pretrained"] == "pretrain/p/backbone.pt"
    assert params["experiments"]["b-s4"]["model"]["kwargs"]["pretrained"] == "weights/x.pth"
    assert [params["experiments"][k]["train"]["seed"] for k in ("a", "a-s4")] == [3, 4]
    assert base_name("a-s4") == "a" and base_name("dsta_t3") == "dsta_t3" and base_name("x-sy") == "x-sy"
    with pytest.raises(DataError, match="seeds"):
        expand_seeds({"seeds": [1, 1], "experiments": {}})


def _expand(text: str, params: dict, key, item) -> str:
    import re

    def value(match):
        name = match.group(1)
        if name == "key":
            return str(key)
        if name.startswith("item."):
            return str(lookup(item, name[5:]))
        return str(lookup(params, name))

    return re.sub(r"\$\{([^}]+)\}", value, text)


def test_stage_paths_in_cmd_are_declared():
    """The paths a stage's command reads are deps and the paths it writes are outs/metrics (style: paths are CLI
    args that match the stage)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    reads = {
        "--data-root",
        "--raw",
        "--checkpoint",
        "--reference",
        "--runs",
        "--eval",
        "--profiles",
        "--benchmarks",
        "--data",
    }
    writes = {"--out", "--benchmark-json", "--export-backbone"}
    for name, stage in dvc["stages"].items():
        body = stage.get("do", stage)
        items = lookup(params, stage["foreach"][2:-1]).items() if "foreach" in stage else [(None, None)]
        for key, item in items:
            cmd = _expand(body["cmd"], params, key, item).split()
            declared_in = {_expand(str(d), params, key, item) for d in body.get("deps", [])}
            declared_out = set()
            for section in ("outs", "metrics", "plots"):
                for entry in body.get(section, []):
                    path = next(iter(entry)) if isinstance(entry, dict) else entry
                    declared_out.add(_expand(str(path), params, key, item))
            for flag, value in zip(cmd, cmd[1:]):
                if flag in reads:
                    assert value in declared_in or any(d.startswith(value + "/") for d in declared_in), (
                        f"{name}@{key}: {flag} {value} not in deps"
                    )
                if flag in writes:
                    assert value == "reports" or any(o == value or o.startswith(value + "/") for o in declared_out), (
                        f"{name}@{key}: {value} not an out"
                    )


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "model").glob("*.yaml")), ids=lambda p: p.stem)
def test_model_config_sections_match_the_registered_kind(path):
    """The report reads a model's kind from its config (a ``heatmap`` section, or a ``loss`` section) so as to need
    neither torch nor the models; the registry is the truth it must agree with."""
    from dsta.models import model_target

    cfg = yaml.safe_load(path.read_text())
    expected = "heatmap" if model_target(cfg["name"]) == "heatmap" else "loss"
    assert {"heatmap", "loss"} & set(cfg) == {expected}


@pytest.mark.parametrize(
    "matrix", ["synthetic_tiny", "synthetic_gpu", "paper_posetrack17", "paper_posetrack18", "paper_posetrack21"]
)
def test_box_prior_is_derived_once_per_dataset(matrix):
    params = compose([f"experiments={matrix}"])
    datasets = {cfg["data"]["name"] for cfg in params["experiments"].values()}
    assert set(params["box_prior"]) == datasets
    for name, data in params["box_prior"].items():
        assert data["name"] == name and "augment" not in data and "frame_distance" not in data


def test_experiments_that_crop_differently_share_no_box_prior():
    from dsta.config import check_box_priors, derive_box_priors

    data = {"name": "synthetic", "boxes": "gt", "box_enlarge": 1.25, "input_size": [48, 64], "frame_distance": 1}
    params = {
        "experiments": {"a": {"data": data}, "b": {"data": {**data, "input_size": [96, 128], "frame_distance": 3}}}
    }
    check_box_priors(params)  # one aspect ratio, another clip spacing: one prior
    assert derive_box_priors(params)["box_prior"]["synthetic"] == {
        k: v for k, v in data.items() if k != "frame_distance"
    }
    params["experiments"]["b"]["data"]["box_enlarge"] = 1.5
    with pytest.raises(DataError, match=r"experiments\.b\.data\.box_enlarge"):
        check_box_priors(params)
    params["experiments"]["b"]["data"].update(box_enlarge=1.25, input_size=[64, 64])
    with pytest.raises(DataError, match=r"experiments\.b\.data\.input_size"):
        check_box_priors(params)
