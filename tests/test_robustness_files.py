"""The robustness grid from prediction files (``dsta.robustness_files``): the exported clips are exactly the frames
the robustness stage feeds a model, so a model of ours run on them (as an outside model would run) scores, run by
run, what ``dsta.robustness`` gives it; and the report puts the scored files on the robustness page."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from dsta import robustness
from dsta import robustness_files as rf
from dsta.core.errors import DataError
from dsta.data.dataset import make_dataset, read_image
from dsta.evaluate import write_predictions
from dsta.models import load_checkpoint
from dsta.objectives import objective_for
from dsta.predict import predict
from tests.test_robustness import DATA, _checkpoint

GRID = {"corruptions": ["occlusion", "blank"], "severities": [3], "modes": ["key", "all"]}


def _params(tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"robustness": GRID, "box_prior": {"synthetic": DATA}}))
    return path


def _run_outside(export: Path, data_root: Path, checkpoint: Path, out: Path) -> dict[str, list]:
    """An outside model's runner: for every exported run, each clip's frames read from the paths clips.json gives
    (here through the dataset's crop, so the comparison is exact), predictions written as PoseTrack18 files."""
    model = load_checkpoint(checkpoint).eval()
    cfg = torch.load(checkpoint, weights_only=False)["config"]
    dataset = make_dataset(cfg["data"], 3, "regression", data_root, "val", train=False)
    objective = objective_for("regression", dataset.input_size, cfg["model"])
    gt_dir = Path(dataset.sequences[0].source).parent
    preds = {}
    for run in json.loads((export / "runs.json").read_text())["runs"]:
        clips = json.loads((export / run["name"] / "clips.json").read_text())["clips"]
        assert len(clips) == len(dataset)
        source = {}  # (file name, box, is key) -> the exported frame
        for index, clip in enumerate(clips):
            sample = dataset.samples[index]
            seq = dataset.sequences[sample.seq]
            assert clip["image_id"] == seq.frames[sample.frame].image_id and clip["box"] == list(sample.box)
            for i, path in zip(dataset.clip_frames(index), clip["frames"]):
                source[(seq.frames[i].file_name, tuple(sample.box), i == sample.frame)] = export / run["name"] / path
        dataset.frame_transform = lambda img, name, box, key, source=source: read_image(source[(name, tuple(box), key)])
        preds[run["name"]] = predict(model, objective, dataset, torch.device("cpu"), 64)
        write_predictions(gt_dir, preds[run["name"]], out / run["name"])
    return preds


@pytest.mark.slow
def test_exported_clips_score_what_the_robustness_stage_gives(tmp_path, synthetic_tiny):
    params, ckpt = _params(tmp_path), _checkpoint(tmp_path, 3)
    doc = torch.load(ckpt, weights_only=False)  # an untrained model hardly depends on the image: make it depend
    doc["state_dict"] = {k: v * 300 if k.endswith("linear.weight") else v for k, v in doc["state_dict"].items()}
    torch.save(doc, ckpt)
    stage = robustness.main(
        [
            "--params",
            str(params),
            "--checkpoint",
            str(ckpt),
            "--data-root",
            str(synthetic_tiny),
            "--out",
            str(tmp_path / "stage"),
        ]
    )
    doc = rf.main(
        [
            "export",
            "--params",
            str(params),
            "--dataset",
            "synthetic",
            "--data-root",
            str(synthetic_tiny),
            "--num-frames",
            "3",
            "--out",
            str(tmp_path / "export"),
        ]
    )
    assert [r["name"] for r in doc["runs"]] == [
        "clean",
        "occlusion-s3-key",
        "occlusion-s3-all",
        "blank-key",
        "blank-all",
    ]
    pngs = list((tmp_path / "export" / "frames").rglob("*.png"))
    assert pngs and all(p.parent.name in ("occlusion-s3", "blank-s1") for p in pngs)
    preds = _run_outside(tmp_path / "export", synthetic_tiny, ckpt, tmp_path / "pred")
    scored = rf.main(
        [
            "score",
            "--export",
            str(tmp_path / "export"),
            "--predictions",
            str(tmp_path / "pred"),
            "--data-root",
            str(synthetic_tiny),
            "--label",
            "Their model",
            "--out",
            str(tmp_path / "theirs"),
        ]
    )
    assert scored["clean"] == pytest.approx(stage["clean"], abs=1e-9)
    assert [r["mAP"] for r in scored["runs"]] == pytest.approx([r["mAP"] for r in stage["runs"]], abs=1e-9)
    for key in (
        "temporal_recovery",
        "blank_neighbour_gain",
        "temporal_recovery_interval",
        "blank_neighbour_gain_interval",
    ):
        assert scored[key] == pytest.approx(stage[key], abs=1e-9), key
    # the frames themselves: every exported clip holds, pixel for pixel, what the stage's corruption of the dataset's
    # frames gives its crop (the scores above agree however little an untrained model reacts to the pixels)
    from dsta.data.corrupt import FrameCorruptor

    dataset = make_dataset(DATA, 3, "regression", synthetic_tiny, "val", train=False)
    changed = 0
    for run in doc["runs"][1:]:
        corruptor = FrameCorruptor(run["corruption"], run["severity"] or 1, run["mode"])
        clips = json.loads((tmp_path / "export" / run["name"] / "clips.json").read_text())["clips"]
        for index, clip in enumerate(clips):
            sample = dataset.samples[index]
            seq = dataset.sequences[sample.seq]
            for i, path in zip(dataset.clip_frames(index), clip["frames"]):
                name = seq.frames[i].file_name
                clean = read_image(synthetic_tiny / name)
                want = corruptor(clean, name, sample.box, i == sample.frame)
                got = read_image(tmp_path / "export" / run["name"] / path)
                assert (got == want).all(), (run["name"], index, i)
                changed += bool((got != clean).any())
    assert changed > 0 and len(preds) == len(doc["runs"])

    from reporting import robustness as rb
    from reporting.results import Experiment, outside_models

    folder = tmp_path / "rob" / "theirs"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text((tmp_path / "theirs" / "metrics.json").read_text())
    mine = Experiment("dsta_t3", {"data": DATA, "model": {"name": "dsta", "kwargs": {"num_frames": 3}}})
    (tmp_path / "rob" / "dsta_t3").mkdir()
    (tmp_path / "rob" / "dsta_t3" / "metrics.json").write_text((tmp_path / "stage" / "metrics.json").read_text())
    outside = outside_models(tmp_path / "rob", [mine])
    assert [(e.key, e.method(), e.num_frames) for e in outside] == [("theirs", "Their model", 3)]
    page = rb.page("synthetic", outside, {"theirs": outside[0].robustness}, None)
    assert "| Their model (theirs) | 3 | GT |" in page  # the method as the tables name it, and its folder


def test_scoring_a_missing_run_names_the_folder(tmp_path, synthetic_tiny):
    export = tmp_path / "export"
    export.mkdir()
    (export / "runs.json").write_text(
        json.dumps({"runs": [{"name": "clean", "corruption": None, "severity": None, "mode": None}], "grid": GRID})
    )
    with pytest.raises(DataError, match=r"pred/clean: no predictions for run clean"):
        rf.score(export, tmp_path / "pred", synthetic_tiny / "annotations" / "val")
