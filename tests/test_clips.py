import numpy as np
import pytest

from dsta.core.errors import DataError
from dsta.data.clips import clip_indices, sample_distance


def test_middle_of_sequence():
    assert clip_indices(10, 30, 3, 2) == [8, 10, 12]
    assert clip_indices(10, 30, 5, 1) == [8, 9, 10, 11, 12]
    assert clip_indices(10, 30, 1, 3) == [10]


def test_clamped_at_both_ends():
    assert clip_indices(0, 30, 5, 2) == [0, 0, 0, 2, 4]
    assert clip_indices(29, 30, 5, 2) == [25, 27, 29, 29, 29]
    assert clip_indices(0, 1, 7, 3) == [0] * 7


def test_asymmetric_distances():
    assert clip_indices(10, 30, 5, (1, 3)) == [8, 9, 10, 13, 16]


@pytest.mark.parametrize("t", [0, 2, 3.0])
def test_bad_num_frames(t):
    with pytest.raises(DataError, match="num_frames"):
        clip_indices(0, 5, t)


def test_bad_key_and_distance():
    with pytest.raises(DataError, match="key"):
        clip_indices(5, 5, 3, 1)
    with pytest.raises(DataError, match="distance"):
        clip_indices(2, 5, 3, 0)


def test_sampled_distances_within_range():
    rng = np.random.RandomState(0)
    draws = [sample_distance(rng, 3) for _ in range(200)]
    flat = [d for pair in draws for d in pair]
    assert set(flat) == {1, 2, 3}
