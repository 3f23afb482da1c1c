import json

import numpy as np
import pytest
import torch
import yaml

from dsta import robustness
from dsta.config import check_params, compose
from dsta.core.errors import DataError
from dsta.data.corrupt import FrameCorruptor
from dsta.data.dataset import TopDownClipDataset
from dsta.models import create_model, save_checkpoint
from dsta.objectives import objective_for
from dsta.predict import predict

DATA = {
    "name": "synthetic",
    "train_ann": "annotations/train",
    "val_ann": "annotations/val",
    "image_root": ".",
    "boxes": "gt",
    "box_score_threshold": 0.0,
    "box_enlarge": 1.25,
    "input_size": [32, 48],
    "frame_distance": 1,
    "max_frame_distance": 2,
    "augment": None,
}
GRID = {"corruptions": ["occlusion", "blank"], "severities": [2, 5], "modes": ["key", "all"]}


def _checkpoint(tmp_path, num_frames):
    kwargs = {"backbone": "resnet18", "num_frames": num_frames, "embed_dim": 16, "depth": 1, "num_heads": 4}
    torch.manual_seed(0)
    model = create_model("dsta", **kwargs)
    cfg = {
        "data": DATA,
        "model": {"name": "dsta", "kwargs": kwargs, "loss": {"prior": "laplace", "residual": True}},
        "train": {"seed": 0},
    }
    path = tmp_path / f"t{num_frames}.pt"
    save_checkpoint(path, "dsta", kwargs, model, config=cfg, epoch=0)
    return path


def _params(tmp_path, grid=GRID):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"robustness": grid}))
    return path


@pytest.mark.slow
def test_stage_writes_every_run_and_the_summaries(tmp_path, synthetic_tiny, capsys):
    out = tmp_path / "rob"
    result = robustness.main(
        [
            "--params",
            str(_params(tmp_path)),
            "--checkpoint",
            str(_checkpoint(tmp_path, 3)),
            "--data-root",
            str(synthetic_tiny),
            "--out",
            str(out),
        ]
    )
    written = json.loads((out / "metrics.json").read_text())
    assert written["num_frames"] == 3 and written["grid"] == GRID
    said = capsys.readouterr().out.strip().splitlines()[-1]  # the recovery in % of clean mAP, as the README writes it
    assert f"temporal recovery {100 * written['temporal_recovery']:+.1f}% of clean mAP" in said
    assert said.endswith(f"-> {out / 'metrics.json'}")
    runs = written["runs"]
    # occlusion at 2 severities x 2 modes, blank once per mode; nothing reused at T=3
    assert [(r["corruption"], r["severity"], r["mode"]) for r in runs] == [
        ("occlusion", 2, "key"),
        ("occlusion", 2, "all"),
        ("occlusion", 5, "key"),
        ("occlusion", 5, "all"),
        ("blank", None, "key"),
        ("blank", None, "all"),
    ]
    assert not any(r.get("same_as_key") for r in runs)
    for mode in ("key", "all"):
        expected = np.mean([r["mAP"] for r in runs if r["mode"] == mode and r["corruption"] == "occlusion"])
        assert written["mPC"][mode] == pytest.approx(expected)
        assert written["rPC"][mode] == pytest.approx(expected / written["clean"])
    assert written["temporal_recovery"] == pytest.approx(written["rPC"]["key"] - written["rPC"]["all"])
    assert written["blank_neighbour_gain"] == pytest.approx(written["blank"]["key"] - written["blank"]["all"])
    low, high = written["temporal_recovery_interval"]
    assert low <= high and written["bootstrap"]["resamples"] == 1000
    low, high = written["blank_neighbour_gain_interval"]
    assert low <= written["blank_neighbour_gain"] <= high or low == high
    assert result["clean"] == written["clean"]
    # GT boxes here: the GT-box column is the clean run; the box prior scored with them too
    assert written["clean_gt_boxes"] == written["clean"]
    assert 0 < written["box_prior"]["boxes"] == written["box_prior"]["gt_boxes"] < 100
    # the box_prior stage computes the same chance level once per dataset; the stage reads it from there
    from dsta import box_prior

    params = tmp_path / "bp_params.yaml"
    params.write_text(yaml.safe_dump({"box_prior": {"synthetic": {k: v for k, v in DATA.items() if k != "augment"}}}))
    prior = box_prior.main(
        [
            "--params",
            str(params),
            "--dataset",
            "synthetic",
            "--data-root",
            str(synthetic_tiny),
            "--out",
            str(tmp_path / "box_prior" / "synthetic.json"),
        ]
    )
    assert {k: prior[k] for k in ("boxes", "gt_boxes", "columns")} == written["box_prior"]
    assert prior["boxes_file"] == "gt" and prior["split"] == "val" and len(prior["mean_pose"]) == 17
    # a prior of other boxes is refused before any work, naming the file and field
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**prior, "boxes_file": "boxes/val_detections.json"}))
    with pytest.raises(DataError, match="boxes_file") as err:
        robustness.main.__wrapped__(
            [
                "--params",
                str(_params(tmp_path)),
                "--checkpoint",
                str(_checkpoint(tmp_path, 3)),
                "--data-root",
                str(synthetic_tiny),
                "--box-prior",
                str(other),
                "--out",
                str(tmp_path / "refused"),
            ]
        )
    assert err.value.path == str(other) and not (tmp_path / "refused").exists()
    other.write_text(json.dumps({**prior, "dataset": "posetrack18"}))  # another dataset's prior
    with pytest.raises(DataError, match="dataset"):
        robustness.main.__wrapped__(
            [
                "--params",
                str(_params(tmp_path)),
                "--checkpoint",
                str(_checkpoint(tmp_path, 3)),
                "--data-root",
                str(synthetic_tiny),
                "--box-prior",
                str(other),
                "--out",
                str(tmp_path / "refused"),
            ]
        )
    other.write_text(json.dumps({**prior, "data": {**prior["data"], "box_enlarge": 1.5}}))  # another crop's
    with pytest.raises(DataError, match="data.box_enlarge"):
        robustness.main.__wrapped__(
            [
                "--params",
                str(_params(tmp_path)),
                "--checkpoint",
                str(_checkpoint(tmp_path, 3)),
                "--data-root",
                str(synthetic_tiny),
                "--box-prior",
                str(other),
                "--out",
                str(tmp_path / "refused"),
            ]
        )


@pytest.mark.slow
def test_single_frame_model_key_and_all_are_identical(tmp_path, synthetic_tiny):
    """Run both modes in full on a T=1 model: the predictions are equal exactly (the stage then reuses key's run)."""
    from dsta.models import load_checkpoint

    model = load_checkpoint(_checkpoint(tmp_path, 1)).eval()
    ds = TopDownClipDataset(synthetic_tiny / "annotations" / "val", synthetic_tiny, num_frames=1, input_size=(32, 48))
    objective = objective_for("regression", ds.input_size, {"name": "dsta", "loss": {"prior": "laplace"}})
    preds = {}
    for mode in ("key", "all"):
        ds.frame_transform = FrameCorruptor("gaussian_noise", 5, mode)
        preds[mode] = predict(model, objective, ds, torch.device("cpu"), batch_size=16)
    assert all(
        np.array_equal(a.keypoints, b.keypoints) and np.array_equal(a.scores, b.scores)
        for a, b in zip(preds["key"], preds["all"])
    )
    result = robustness.run_grid(model, objective, ds, torch.device("cpu"), GRID, num_frames=1, log=lambda s: None)
    assert result["temporal_recovery"] == 0.0 and result["blank_neighbour_gain"] == 0.0
    assert result["temporal_recovery_interval"] == [0.0, 0.0] and result["blank_neighbour_gain_interval"] == [0.0, 0.0]
    assert all(r["same_as_key"] for r in result["runs"] if r["mode"] == "all")


def test_grid_runs_blank_once_per_mode():
    grid = robustness.grid({"corruptions": ["blank", "motion_blur"], "severities": [1, 3], "modes": ["key"]})
    assert grid == [("blank", None, "key"), ("motion_blur", 1, "key"), ("motion_blur", 3, "key")]


@pytest.mark.parametrize(
    "override, key, value",
    [
        ("robustness.corruptions=[motion_blur,fog]", "robustness.corruptions[1]", "'fog'"),
        ("robustness.severities=[0,3]", "robustness.severities[0]", "0"),
        ("robustness.modes=[key,middle]", "robustness.modes[1]", "'middle'"),
        ("robustness.severities=[3,3]", "robustness.severities", "repeated"),
    ],
)
def test_bad_grid_refused_at_compose_time_with_the_key_as_written(override, key, value):
    params = compose([override])
    with pytest.raises(DataError) as err:
        check_params(params)
    assert key in str(err.value) and value in str(err.value)


def test_committed_grids_compose():
    for overrides in ([], ["experiments=synthetic_gpu"]):
        params = compose(overrides)
        check_params(params)
        assert set(params["robustness"]["modes"]) == {"key", "all"} and "blank" in params["robustness"]["corruptions"]
    assert compose(["experiments=synthetic_gpu"])["robustness"]["severities"] == [1, 2, 3, 4, 5]
