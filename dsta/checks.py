"""Checks of values that several layers take (the data pipeline and the models both take T), each raising
``DataError`` with the key at fault."""
from __future__ import annotations

import numpy as np

from dsta.errors import DataError


def check_num_frames(num_frames: int, field: str = "num_frames") -> int:
    """T must be a positive odd integer (the key frame sits in the middle)."""
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)):
        raise DataError(None, field, f"must be an integer, got {num_frames!r}")
    if num_frames <= 0 or num_frames % 2 == 0:
        raise DataError(None, field, f"must be a positive odd number (1, 3, 5, ...), got {num_frames}")
    return int(num_frames)
