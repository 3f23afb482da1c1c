"""dsta.predict's checks before any work (issue 22): bad arguments, checkpoints and box files are one line naming the
file and field; truncated frames are named; an earlier result in --out is never lost; a converted official
checkpoint predicts end to end."""

import json
import shutil

import pytest
import torch

from dsta.data.posetrack import read_split
from dsta.models import create_model, save_checkpoint
from dsta.predict import BOX_LIMIT, main

KWARGS = dict(backbone="resnet18", num_frames=1, embed_dim=16, depth=1, num_heads=4)
CONFIG = {
    "data": {
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
    },
    "model": {"name": "dsta", "kwargs": KWARGS, "loss": {"prior": "laplace", "residual": True}},
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained tiny DSTA with its config: predicting needs no training."""
    path = tmp_path_factory.mktemp("ckpt") / "dsta.pt"
    torch.manual_seed(0)
    save_checkpoint(path, "dsta", KWARGS, create_model("dsta", **KWARGS), config=CONFIG, epoch=0)
    return path


def _predict(ckpt, data, out, *extra):
    return main(["--checkpoint", str(ckpt), "--data-root", str(data), "--out", str(out), *extra])


def _error(capsys, *args) -> str:
    with pytest.raises(SystemExit) as exit_:
        _predict(*args[:3], *args[3:])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


@pytest.fixture
def earlier(tmp_path):
    """An --out holding an earlier result, which no failing run may touch."""
    out = tmp_path / "eval"
    out.mkdir()
    (out / "metrics.json").write_text('{"Total": 42.0}\n')
    return out


def test_truncated_frame_is_an_error_naming_it(tmp_path, synthetic_tiny, checkpoint, earlier, capsys):
    data = tmp_path / "data"
    shutil.copytree(synthetic_tiny, data)
    seq = read_split(data / "annotations" / "val")[0]
    victim = data / next(f for f in seq.frames if f.is_labeled).file_name
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
    err = _error(capsys, checkpoint, data, earlier)
    assert err.startswith(f"error: {victim}: file_name: truncated JPEG")
    assert (earlier / "metrics.json").read_text() == '{"Total": 42.0}\n'


@pytest.mark.parametrize(
    "args, words",
    [
        (["--split", "tset"], "--split: unknown split 'tset'; the checkpoint's data config has train, val"),
        (["--batch-size", "0"], "argument --batch-size: must be an integer >= 1, got 0"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path, synthetic_tiny, checkpoint, earlier, capsys, args, words):
    err = _error(capsys, checkpoint, synthetic_tiny, earlier, *args)
    assert err.endswith(words)
    assert (earlier / "metrics.json").read_text() == '{"Total": 42.0}\n'


def test_out_that_is_a_file_fails_before_predicting(tmp_path, synthetic_tiny, checkpoint, capsys):
    out = tmp_path / "eval"
    out.write_text("keep")
    assert _error(capsys, checkpoint, synthetic_tiny, out) == f"error: {out}: --out: exists and is not a directory"
    assert out.read_text() == "keep"


@pytest.mark.parametrize("kind", ["other_model", "other_kwargs", "no_config"])
def test_checkpoint_that_does_not_fit_is_one_line(tmp_path, synthetic_tiny, checkpoint, earlier, capsys, kind):
    ckpt = torch.load(checkpoint, weights_only=False)
    if kind == "other_model":  # an RLE's weights under DSTA's name
        rle = dict(backbone="resnet18", num_joints=17, num_frames=1)
        ckpt["state_dict"] = create_model("rle", **rle).state_dict()
    elif kind == "other_kwargs":
        ckpt["kwargs"] = {**KWARGS, "embed_dim": 32}
    else:
        del ckpt["config"]
    bad = tmp_path / "bad.pt"
    torch.save(ckpt, bad)
    err = _error(capsys, bad, synthetic_tiny, earlier)
    field = {"other_model": "state_dict", "other_kwargs": "state_dict.spatial_pos_embed", "no_config": "config"}[kind]
    assert err.startswith(f"error: {bad}: {field}: ") and "\n" not in err
    if kind == "other_kwargs":  # the first tensor of another shape, both shapes, and how many differ
        assert "shape [3, 16] in the checkpoint, but dsta(" in err and "has [3, 32] (" in err
    if kind == "other_model":
        assert "keys missing" in err and "(first: missing " in err
    assert (earlier / "metrics.json").read_text() == '{"Total": 42.0}\n'


def _gt_boxes(data, path, shift=None, frames=None):
    """A COCO-results box file from the val GT (every labeled person's box); ``shift`` moves boxes by (dx, dy);
    ``frames`` (a fraction) renames that share of the frames' image ids to ids no frame has."""
    dets = []
    labeled = [f for s in read_split(data / "annotations" / "val") for f in s.frames if f.is_labeled]
    for n, frame in enumerate(labeled):
        moved = frames is not None and n < frames * len(labeled)
        for person in frame.persons:
            x, y, w, h = (float(v) for v in person.box)
            if shift:
                x, y = x + shift[0], y + shift[1]
            dets.append(
                {
                    "image_id": frame.image_id + (10**9 if moved else 0),
                    "category_id": 1,
                    "bbox": [x, y, w, h],
                    "score": 1.0,
                }
            )
    path.write_text(json.dumps(dets))
    return path


@pytest.mark.parametrize(
    "case, words",
    [
        ("half_unmatched", "labeled frames with people get no usable box"),
        ("all_outside", "boxes lie outside their image"),
    ],
)
def test_boxes_that_miss_the_split_are_refused(tmp_path, synthetic_tiny, checkpoint, earlier, capsys, case, words):
    boxes = tmp_path / "boxes.json"
    if case == "half_unmatched":
        _gt_boxes(synthetic_tiny, boxes, frames=0.5)
    else:
        _gt_boxes(synthetic_tiny, boxes, shift=(10_000, 0))
    err = _error(capsys, checkpoint, synthetic_tiny, earlier, "--boxes", str(boxes))
    assert err.startswith(f"error: {boxes}: ") and words in err and f"{BOX_LIMIT:.0%}" in err
    assert (earlier / "metrics.json").read_text() == '{"Total": 42.0}\n'


def test_a_few_unmatched_boxes_are_counted_and_reported(tmp_path, synthetic_tiny, checkpoint, capsys):
    boxes = tmp_path / "boxes.json"
    _gt_boxes(synthetic_tiny, boxes)
    dets = json.loads(boxes.read_text())
    dets.append({**dets[0], "image_id": 1})  # one box for an image the split does not have
    boxes.write_text(json.dumps(dets))
    out = tmp_path / "eval"
    metrics = _predict(checkpoint, synthetic_tiny, out, "--boxes", str(boxes))
    assert metrics["box_check"]["unmatched_boxes"] == 1 and metrics["box_check"]["outside_image"] == 0
    assert "1 matching no frame" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text())["box_check"]["boxes"] == len(dets) - 1


@pytest.mark.slow
def test_converted_official_checkpoint_predicts_and_demos(tmp_path, synthetic_tiny):
    from dsta.convert_official import convert
    from dsta.demo import main as demo_main
    from tests.test_dsta import _official_state_dict

    src, dst = tmp_path / "official.pth", tmp_path / "dsta_official.pt"
    torch.save({"epoch": 19, "state_dict": _official_state_dict()}, src)
    convert(src, dst)
    metrics = _predict(dst, synthetic_tiny, tmp_path / "eval", "--boxes", "gt", "--batch-size", "8")
    assert 0 <= metrics["Total"] <= 100 and metrics["model"] == "dsta" and metrics["dataset"] == "posetrack18"
    assert len(list((tmp_path / "eval" / "predictions").glob("*.json"))) == 2

    seq = read_split(synthetic_tiny / "annotations" / "val")[0]
    frames = tmp_path / "frames"
    frames.mkdir()
    boxes = []
    for t, frame in enumerate(seq.frames[:3]):
        shutil.copy(synthetic_tiny / frame.file_name, frames / f"{t:06d}.jpg")
        boxes += [{"frame": t, "track_id": p.track_id, "bbox": [float(v) for v in p.box]} for p in frame.persons]
    (tmp_path / "boxes.json").write_text(json.dumps({"boxes": boxes}))
    out = tmp_path / "demo.gif"
    demo_main(
        ["--frames", str(frames), "--boxes", str(tmp_path / "boxes.json"), "--checkpoint", str(dst), "--out", str(out)]
    )
    assert out.stat().st_size > 0
