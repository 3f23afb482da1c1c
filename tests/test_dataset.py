import shutil

import numpy as np
import pytest
import torch

from dsta.data.dataset import TopDownClipDataset
from dsta.errors import DataError


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
