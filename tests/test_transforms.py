import numpy as np
import pytest

from dsta.core import keypoints as kp
from dsta.core.errors import DataError
from dsta.data import transforms as tf


def _clip(t=3, h=120, w=160, seed=0):
    rng = np.random.RandomState(seed)
    return [rng.randint(0, 255, size=(h, w, 3), dtype=np.uint8) for _ in range(t)]


def _person(seed=0):
    rng = np.random.RandomState(seed)
    xy = rng.uniform([50, 30], [110, 90], size=(17, 2))
    vis = np.ones(17, np.float32)
    return xy, vis


@pytest.mark.parametrize("seed", range(6))
def test_keypoints_map_through_crop_flip_rotation_and_back(seed):
    xy, vis = _person(seed)
    aug = tf.AugmentConfig(flip_prob=0.5, rotate_prob=1.0, half_body_prob=0.0)
    pipeline = tf.build_pipeline((48, 64), train=True, augment=aug)
    np.random.seed(seed)
    res = tf.run_pipeline(pipeline, _clip(), np.array([40.0, 20.0, 80.0, 80.0]), xy, vis)
    crop = res["transformed_keypoints"][0]
    rot = float(res.get("bbox_rotation", np.zeros(1))[0])
    back = tf.crop_to_image(crop, res["input_center"], res["input_scale"], rot, (48, 64))
    if res["flip"]:
        back = tf.unflip_keypoints(back, image_width=160)
    assert np.abs(back - xy).max() < 1e-3


def test_every_frame_gets_the_same_warp():
    clip = _clip()
    clip = [clip[0]] * 3  # identical frames must stay identical after the random transform
    xy, vis = _person()
    pipeline = tf.build_pipeline((48, 64), train=True)
    np.random.seed(3)
    res = tf.run_pipeline(pipeline, clip, np.array([40.0, 20.0, 80.0, 80.0]), xy, vis)
    assert len(res["img"]) == 3 and res["img"][0].shape == (64, 48, 3)
    assert all(np.array_equal(res["img"][0], im) for im in res["img"][1:])


def test_regression_target_and_weights():
    target, weight = tf.regression_target(np.array([[24.0, 32.0], [100.0, 5.0]] + [[1, 1]] * 15), np.ones(17), (48, 64))
    assert np.allclose(target[0], [0.5, 0.5])
    assert weight[1].sum() == 0  # outside the crop
    assert weight[kp.KEYPOINT_INDEX["left_wrist"], 0] == pytest.approx(1.5)


def test_heatmap_codec_round_trip():
    codec = tf.heatmap_codec((48, 64), (12, 16), sigma=1.5)
    pts = np.array([[[20.3, 30.7]] * 17])
    enc = codec.encode(pts, np.ones((1, 17)))
    assert enc["heatmaps"].shape == (17, 16, 12)
    dec, _ = codec.decode(enc["heatmaps"])
    assert np.abs(dec[0] - pts[0]).max() < 1.5


def test_bad_augment_values():
    with pytest.raises(DataError, match="augment.flip_prob"):
        tf.AugmentConfig(flip_prob=1.5)
    with pytest.raises(DataError, match="data.box_enlarge"):
        tf.build_pipeline((48, 64), train=False, padding=0)


def test_official_scale_and_rotation_are_clipped_normals():
    """DCPose/DSTA: scale clip(N(1, 0.35), 0.65, 1.35); rotation clip(N(0, 45), -90, 90) with probability 0.6 (mmpose's
    truncated normal would stop at +-45 degrees)."""
    draw = tf.ClippedNormalBBoxTransform(0.35, 45.0, 0.6)
    np.random.seed(0)
    out = draw({"bbox_scale": np.ones((20000, 2), np.float32)})
    scale, rot = out["bbox_scale"][:, 0], out["bbox_rotation"]
    assert scale.min() >= 0.65 - 1e-6 and scale.max() <= 1.35 + 1e-6 and (np.isclose(scale, 1.35)).mean() > 0.1
    assert abs((rot == 0).mean() - 0.4) < 0.02 and np.abs(rot).max() == 90.0 and (np.abs(rot) > 45).mean() > 0.1
    with pytest.raises(DataError, match="augment.distribution"):
        tf.AugmentConfig(distribution="uniform")
    pipeline = tf.build_pipeline((48, 64), train=True, augment=tf.AugmentConfig(distribution="official"))
    assert any(isinstance(t, tf.ClippedNormalBBoxTransform) for t in pipeline)


def _half_body_input(visible_ids, seed=0):
    xy, _ = _person(seed)
    vis = np.zeros(17, np.float32)
    vis[list(visible_ids)] = 1
    return {
        "keypoints": xy[None].astype(np.float32),
        "keypoints_visible": vis[None],
        "bbox_center": np.array([[80.0, 60.0]], np.float32),
        "bbox_scale": np.array([[100.0, 90.0]], np.float32),
        "upper_body_ids": list(kp.UPPER_BODY_INDICES),
        "lower_body_ids": list(kp.LOWER_BODY_INDICES),
    }


def test_official_half_body_thresholds_and_draws():
    """The release: more than 8 annotated joints and rand() < p; the upper body when randn() < 0.5 and more than 2
    upper joints, else the lower body when more than 2, else the upper; centre the mean, size the extent x 1.5."""
    upper, lower = list(kp.UPPER_BODY_INDICES), list(kp.LOWER_BODY_INDICES)
    assert len(upper) == 11 and len(lower) == 6  # the release's (0..10) and (11..16)
    always = tf.OfficialHalfBody(prob=1.0, min_keypoints=8)
    np.random.seed(0)
    eight = always(_half_body_input(upper[:2] + lower))  # 8 annotated: not more than 8, so never
    assert eight["bbox_scale"].tolist() == [[100.0, 90.0]]
    # 9 annotated (3 upper + 6 lower): the draws, replayed from the same seed
    ids = upper[:3] + lower
    chose_upper = []
    for seed in range(2000):
        np.random.seed(seed)
        out = always(_half_body_input(ids))
        np.random.seed(seed)
        assert np.random.rand() < 1.0  # the probability draw comes first
        first = upper[:3] if np.random.randn() < 0.5 else lower
        pts = _half_body_input(ids)["keypoints"][0][first]
        np.testing.assert_allclose(out["bbox_center"][0], pts.mean(0), rtol=1e-6)
        np.testing.assert_allclose(out["bbox_scale"][0], (pts.max(0) - pts.min(0)) * 1.5, rtol=1e-6)
        chose_upper.append(first is not lower)
    assert abs(np.mean(chose_upper) - 0.6915) < 0.03  # P(N(0, 1) < 0.5), not mmpose's 0.7 from rand()
    # more than 2 upper joints needed for the upper body, more than 2 lower for the lower body
    low = tf.OfficialHalfBody(prob=1.0, min_keypoints=3)
    for seed in range(20):
        np.random.seed(seed)
        pts = _half_body_input(upper[:2] + lower[:3])["keypoints"][0]
        np.testing.assert_allclose(
            low(_half_body_input(upper[:2] + lower[:3]))["bbox_center"][0], pts[lower[:3]].mean(0), rtol=1e-6
        )  # 2 upper: always the lower body
        np.testing.assert_allclose(
            low(_half_body_input(upper[:3] + lower[:2]))["bbox_center"][0], pts[upper[:3]].mean(0), rtol=1e-6
        )  # 2 lower: always the upper body
    # the probability: rand() < p
    some = tf.OfficialHalfBody(prob=0.3, min_keypoints=8)
    np.random.seed(0)
    applied = [some(_half_body_input(range(17)))["bbox_scale"][0, 0] != 100.0 for _ in range(4000)]
    assert abs(np.mean(applied) - 0.3) < 0.03
    with pytest.raises(DataError, match="augment.half_body_rule"):
        tf.AugmentConfig(half_body_rule="coco")
    pipeline = tf.build_pipeline((48, 64), train=True, augment=tf.AugmentConfig(half_body_rule="official"))
    assert any(isinstance(t, tf.OfficialHalfBody) for t in pipeline)
