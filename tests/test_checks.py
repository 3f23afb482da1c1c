import numpy as np
import pytest

from dsta.core.configs import check_num_frames
from dsta.core.errors import DataError


@pytest.mark.parametrize("t", [0, -1, 2, 4, 3.0, True, "3"])
def test_bad_num_frames(t):
    with pytest.raises(DataError, match="model.num_frames"):
        check_num_frames(t, "model.num_frames")


@pytest.mark.parametrize("t", [1, 3, 5, np.int64(7)])
def test_good_num_frames(t):
    assert check_num_frames(t) == int(t) and type(check_num_frames(t)) is int


def test_num_frames_of_takes_the_argument_else_the_models_default():
    from dsta.core.configs import num_frames_of

    assert num_frames_of("dsta", {"num_frames": 5}) == 5
    assert num_frames_of("dsta", {}) == 3 and num_frames_of("dcpose", {}) == 3  # their typed configs' defaults
    assert num_frames_of("rle", {}) == 1 and num_frames_of("heatmap_single", {"backbone": "resnet18"}) == 1
