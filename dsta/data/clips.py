"""Which frames make a clip: the key frame t and its neighbours t +- k*d, clamped at the sequence ends."""

from __future__ import annotations

import numpy as np

from dsta.core.configs import check_num_frames
from dsta.core.errors import DataError


def clip_indices(key: int, length: int, num_frames: int, distance: int | tuple[int, int] = 1) -> list[int]:
    """Frame indices of a clip in temporal order, the key frame in the middle.

    Args:
        key: index of the key frame in its sequence.
        length: number of frames in the sequence.
        num_frames: T, odd.
        distance: frame distance d, or (d_past, d_future) to space the two sides differently (DCPose samples the
            two supporting frames' distances independently during training).

    Returns:
        ``[clamp(t - h*d_past), ..., clamp(t - d_past), t, clamp(t + d_future), ..., clamp(t + h*d_future)]`` with
        ``h = T // 2`` and ``clamp`` to ``[0, length - 1]``.
    """
    check_num_frames(num_frames)
    if length <= 0:
        raise DataError(None, "length", f"sequence has no frames ({length})")
    if not 0 <= key < length:
        raise DataError(None, "key", f"key frame {key} outside the sequence of {length} frames")
    d_past, d_future = (distance, distance) if np.isscalar(distance) else distance
    if d_past < 1 or d_future < 1:
        raise DataError(None, "distance", f"frame distance must be >= 1, got {distance}")
    half = num_frames // 2
    past = [min(max(key - k * int(d_past), 0), length - 1) for k in range(half, 0, -1)]
    future = [min(max(key + k * int(d_future), 0), length - 1) for k in range(1, half + 1)]
    return past + [key] + future


def sample_distance(rng: np.random.RandomState, max_distance: int) -> tuple[int, int]:
    """Training-time frame distances: each side drawn uniformly from 1..max_distance, as DCPose does."""
    if max_distance < 1:
        raise DataError(None, "max_distance", f"must be >= 1, got {max_distance}")
    return int(rng.randint(1, max_distance + 1)), int(rng.randint(1, max_distance + 1))
