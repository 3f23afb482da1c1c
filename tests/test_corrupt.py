import hashlib

import numpy as np
import pytest

from dsta.core.configs import CORRUPTIONS, IMAGENET_C_CORRUPTIONS
from dsta.core.errors import DataError
from dsta.data.corrupt import OCCLUDED_AREA, FrameCorruptor, corrupt_frame, corruption_seed
from dsta.data.dataset import TopDownClipDataset


def _image(seed=0):
    return (np.random.RandomState(seed).rand(64, 80, 3) * 255).astype(np.uint8)


BOX = np.array([10.0, 8.0, 40.0, 48.0])


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_corruption_is_deterministic_and_changes_the_frame(name):
    img = _image()
    a = corrupt_frame(img, name, 3, "seq/000001.jpg", BOX)
    state = np.random.get_state()
    b = corrupt_frame(img.copy(), name, 3, "seq/000001.jpg", BOX)
    assert a.shape == img.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, img)
    # numpy's global generator is left as it was (the package draws from it)
    assert all(np.array_equal(x, y) for x, y in zip(state[1:2], np.random.get_state()[1:2]))


def test_the_seed_is_the_image_corruption_and_severity():
    assert corruption_seed("a.jpg", "occlusion", 2) == corruption_seed("a.jpg", "occlusion", 2)
    seeds = {
        corruption_seed(i, c, s) for i in ("a.jpg", "b.jpg") for c in ("occlusion", "gaussian_noise") for s in (1, 2)
    }
    assert len(seeds) == 8
    img = _image()
    assert not np.array_equal(
        corrupt_frame(img, "gaussian_noise", 3, "a.jpg"), corrupt_frame(img, "gaussian_noise", 3, "b.jpg")
    )


def test_severity_grows_the_damage():
    img = _image()
    for name in IMAGENET_C_CORRUPTIONS + ("occlusion",):
        err = [np.abs(corrupt_frame(img, name, s, "x.jpg", BOX).astype(float) - img).mean() for s in (1, 5)]
        assert err[1] > err[0], name


def test_occluder_covers_the_severity_s_share_of_the_box_and_stays_inside_it():
    img = np.zeros((100, 120, 3), np.uint8)
    box = np.array([20.0, 10.0, 60.0, 80.0])
    for severity in (1, 3, 5):
        out = corrupt_frame(img, "occlusion", severity, f"f{severity}.jpg", box)
        changed = out.any(-1)
        ys, xs = np.nonzero(changed)
        assert xs.min() >= 20 and xs.max() < 80 and ys.min() >= 10 and ys.max() < 90
        assert changed.sum() / (60 * 80) == pytest.approx(OCCLUDED_AREA[severity - 1], abs=0.05)


def test_blank_is_the_mean_colour():
    img = _image()
    out = corrupt_frame(img, "blank", 1, "x.jpg")
    assert (out == out[0, 0]).all()
    assert np.array_equal(out[0, 0], img.reshape(-1, 3).mean(0).round().astype(np.uint8))


def test_bad_names_refused():
    with pytest.raises(DataError, match="fog"):
        corrupt_frame(_image(), "fog", 1, "x.jpg")
    with pytest.raises(DataError, match="robustness.severities"):
        FrameCorruptor("blank", 6, "key")
    with pytest.raises(DataError, match="robustness.modes"):
        FrameCorruptor("blank", 1, "middle")


def _crop_hashes(dataset, index):
    clip = dataset[index]["image"].numpy()
    return [hashlib.sha1(frame.tobytes()).hexdigest() for frame in clip]


def _dataset(root, num_frames):
    return TopDownClipDataset(root / "annotations" / "val", root, num_frames=num_frames, input_size=(32, 48))


@pytest.mark.parametrize("name", ["occlusion", "gaussian_noise", "blank"])
def test_the_mode_names_the_frames_hit(synthetic_tiny, name):
    ds = _dataset(synthetic_tiny, 3)
    index = next(i for i in range(len(ds)) if len(set(ds.clip_frames(i))) == 3)
    clean = _crop_hashes(ds, index)
    ds.frame_transform = FrameCorruptor(name, 4, "key")
    key = _crop_hashes(ds, index)
    ds.frame_transform = FrameCorruptor(name, 4, "all")
    every = _crop_hashes(ds, index)
    assert key[0] == clean[0] and key[2] == clean[2] and key[1] != clean[1]  # the key frame is the middle one
    assert all(e != c for e, c in zip(every, clean)) and every[1] == key[1]
    ds.frame_transform = FrameCorruptor(name, 4, "all")  # a fresh cache: the same pixels again
    assert _crop_hashes(ds, index) == every


def test_single_frame_clips_cannot_tell_the_modes_apart(synthetic_tiny):
    ds = _dataset(synthetic_tiny, 1)
    hashes = {}
    for mode in ("key", "all"):
        ds.frame_transform = FrameCorruptor("motion_blur", 2, mode)
        hashes[mode] = [_crop_hashes(ds, i) for i in range(len(ds))]
    assert hashes["key"] == hashes["all"]
