import shutil

import numpy as np
import pytest
import torch

from dsta.core.errors import DataError
from dsta.data.dataset import TopDownClipDataset


def _ds(root, **kw):
    args = dict(num_frames=3, input_size=(48, 64), train=False, frame_distance=1)
    args.update(kw)
    return TopDownClipDataset(root / "annotations" / "val", root, **args)


def test_item_shapes_and_targets(synthetic_tiny):
    ds = _ds(synthetic_tiny)
    item = ds[0]
    assert item["image"].shape == (3, 3, 64, 48) and item["image"].dtype == torch.float32
    assert item["coords"].shape == (17, 2) and item["coord_weight"].shape == (17, 2)
    w = item["coord_weight"][:, 0] > 0
    assert ((item["coords"][w] >= 0) & (item["coords"][w] <= 1)).all()
    assert item["coord_weight"][3:5].sum() == 0  # ears


def test_heatmap_targets(synthetic_tiny):
    item = _ds(synthetic_tiny, target="heatmap", heatmap_size=(12, 16))[0]
    assert item["heatmap"].shape == (17, 16, 12) and item["heatmap_weight"].shape == (17,)


def test_training_draws_repeat_per_seed_epoch_index(synthetic_tiny):
    ds = _ds(synthetic_tiny, train=True, frame_distance=2, seed=3)
    a, b = ds[1], ds[1]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["coords"], b["coords"])
    ds.set_epoch(1)
    c = ds[1]
    assert not torch.equal(a["image"], c["image"])


def test_single_frame_and_key_frame_in_the_middle(synthetic_tiny):
    one = _ds(synthetic_tiny, num_frames=1)[0]
    three = _ds(synthetic_tiny, num_frames=3)[0]
    assert one["image"].shape[0] == 1
    assert torch.equal(one["image"][0], three["image"][1])


@pytest.mark.parametrize("t", [2, 0, -3])
def test_even_or_non_positive_t(synthetic_tiny, t):
    with pytest.raises(DataError, match="data.num_frames"):
        _ds(synthetic_tiny, num_frames=t)


def test_missing_and_unreadable_images(synthetic_tiny, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(synthetic_tiny, root)
    ds = _ds(root)
    seq = ds.sequences[ds.samples[0].seq]
    path = root / seq.frames[ds.samples[0].frame].file_name
    path.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="cannot decode image"):
        ds[0]
    path.unlink()
    with pytest.raises(DataError, match=f"{path}: file_name: image not found"):
        ds[0]


def test_detected_boxes(synthetic_tiny, tmp_path):
    import json

    ds = _ds(synthetic_tiny)
    dets = []
    for s in ds.samples[:5]:
        frame = ds.sequences[s.seq].frames[s.frame]
        dets.append({"image_id": frame.image_id, "category_id": 1, "bbox": s.box.tolist(), "score": 0.9})
    dets.append({**dets[0], "score": 0.1})
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))
    ds2 = _ds(synthetic_tiny, boxes=str(path), box_score_threshold=0.5)
    assert len(ds2) == 5
    assert ds2[0]["track_id"].item() == -1 and np.isclose(ds2[0]["box_score"].item(), 0.9)


def _release_clean_bbox(box, width, height):
    """The release's arithmetic, restated (zgspose/DSTA datasets/zoo/posetrack/PoseTrack.py, "sanitize bboxes")."""
    x, y, w, h = box
    x1, y1 = np.max((0, x)), np.max((0, y))
    x2, y2 = np.min((width - 1, x1 + np.max((0, w - 1)))), np.min((height - 1, y1 + np.max((0, h - 1))))
    return [x1, y1, x2 - x1, y2 - y1] if x2 >= x1 and y2 >= y1 else None


def test_gt_boxes_clipped_as_the_release_on_the_real_format(tmp_path):
    """The shared PoseTrack18 sample (the COCO-style layout with `bbox` and image sizes that the release's PoseTrack17
    training JSON has too): `clipped` gives each person the file's bbox clipped to the image as the release does;
    `given` keeps it as it stands; one spilling over the image border is among them."""
    import json

    from tests.conftest import SHARED

    ann = SHARED / "posetrack18-sample" / "annotations" / "val"
    given = TopDownClipDataset(ann, SHARED / "posetrack18-sample", num_frames=1, train=True)
    clipped = TopDownClipDataset(ann, SHARED / "posetrack18-sample", num_frames=1, train=True, gt_boxes="clipped")
    assert len(given) == len(clipped) > 0 and clipped.unclipped_boxes == 0
    want = []
    for path in sorted(ann.glob("*.json")):
        doc = json.loads(path.read_text())
        sizes = {img["id"]: (img["width"], img["height"]) for img in doc["images"]}
        want += [
            (a["bbox"], _release_clean_bbox(a["bbox"], *sizes[a["image_id"]]))
            for a in doc["annotations"]
            if max(a["keypoints"]) > 0
        ]
    assert len(want) == len(clipped)
    for (raw, clean), g, c in zip(want, given.samples, clipped.samples):
        np.testing.assert_allclose(g.box, raw)
        np.testing.assert_allclose(c.box, clean)
    assert any(not np.allclose(raw, clean) for raw, clean in want)  # the sample has a box over the border
    # a frame without an image size (PoseTrack17's annolist files have none) keeps its box, and is counted
    for seq in clipped.sequences:
        for frame in seq.frames:
            frame.width = frame.height = None
    assert clipped._build_samples("gt", 0.0, 1) and clipped.unclipped_boxes == len(want)
    with pytest.raises(DataError, match="data.gt_boxes"):
        TopDownClipDataset(ann, SHARED / "posetrack18-sample", num_frames=1, gt_boxes="cropped")


def test_clip_box_edges():
    from dsta.data.posetrack import clip_box

    # starting left of the image, the box keeps its width (the far corner is measured from the clipped near one)
    np.testing.assert_allclose(clip_box(np.array([-10.0, 5.0, 100.0, 50.0]), 640, 480), [0, 5, 99, 49])
    np.testing.assert_allclose(clip_box(np.array([600.0, 400.0, 100.0, 100.0]), 640, 480), [600, 400, 39, 79])
    assert clip_box(np.array([700.0, 10.0, 20.0, 20.0]), 640, 480) is None  # nothing left: the release drops it
    for box in ([-10.0, 5.0, 100.0, 50.0], [600.0, 400.0, 100.0, 100.0], [3.5, 2.25, 0.5, 10.0]):
        np.testing.assert_allclose(clip_box(np.array(box), 640, 480), _release_clean_bbox(box, 640, 480))
