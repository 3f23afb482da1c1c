import numpy as np

from dsta import box_prior
from dsta.core import keypoints as kp
from dsta.data.dataset import TopDownClipDataset
from dsta.predict import score

DATA = {
    "train_ann": "annotations/train",
    "val_ann": "annotations/val",
    "image_root": ".",
    "boxes": "gt",
    "box_enlarge": 1.25,
    "input_size": [32, 48],
    "frame_distance": 1,
    "max_frame_distance": 2,
}


def test_mean_pose_is_a_pose(synthetic_tiny):
    mean = box_prior.fit(DATA, synthetic_tiny)
    assert mean.shape == (17, 2) and (mean >= 0).all() and (mean <= 1).all()
    k = kp.KEYPOINT_INDEX
    # upright figures: the head above the hips above the ankles, in the middle of the box
    assert mean[k["head_top"], 1] < mean[k["left_hip"], 1] < mean[k["left_ankle"], 1]
    assert abs(mean[k["head_top"], 0] - 0.5) < 0.15


def test_prior_is_placed_in_every_box_and_scored(synthetic_tiny, tmp_path):
    mean = box_prior.fit(DATA, synthetic_tiny)
    ds = TopDownClipDataset(synthetic_tiny / "annotations" / "val", synthetic_tiny, num_frames=1, input_size=(32, 48))
    preds = box_prior.predict(mean, ds)
    assert len(preds) == len(ds.samples)
    for p, s in zip(preds, ds.samples):
        x, y, w, h = s.box
        # the pose lies around the box (the crop is the box enlarged by 1.25 to the input's aspect)
        assert (p.keypoints[:, 0] > x - w).all() and (p.keypoints[:, 0] < x + 2 * w).all()
        assert np.all(p.scores == 1.0)
    result = score(preds, ds, tmp_path)
    assert 0 < result["Total"] < 100
    # a pose far from the mean scores less
    worse = score(box_prior.predict(np.full((17, 2), 0.05), ds), ds, tmp_path / "worse")
    assert worse["Total"] < result["Total"]
