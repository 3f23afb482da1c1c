import numpy as np
import pytest

from dsta.checks import check_num_frames
from dsta.errors import DataError


@pytest.mark.parametrize("t", [0, -1, 2, 4, 3.0, True, "3"])
def test_bad_num_frames(t):
    with pytest.raises(DataError, match="model.num_frames"):
        check_num_frames(t, "model.num_frames")


@pytest.mark.parametrize("t", [1, 3, 5, np.int64(7)])
def test_good_num_frames(t):
    assert check_num_frames(t) == int(t) and type(check_num_frames(t)) is int
