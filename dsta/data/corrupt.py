"""Test-time corruptions of whole frames, applied before cropping (the robustness benchmark, ``dsta.robustness``).

The ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019) come from the ``imagecorruptions`` package (Michaelis
et al. 2019; its maintained fork ``imagecorruptions-imaug``), at its five severities. Two more are this harness's own:

- ``occlusion``: a filled box of one random colour over part of the person's box (the box the clip is cropped from),
  covering 10/20/30/40/50% of the box's area at severity 1-5, at a random place inside it: the case temporal models
  are built for;
- ``blank``: the frame replaced by its mean colour, nothing of the image left (the control: with every frame blank a
  model scores what its box alone gives it).

Every corruption is deterministic: its random draws are seeded by the image's file name, the corruption and the
severity only (``corruption_seed``), so every model sees the same pixels on every machine; an occluder's place is a
fraction of the box, so the same box gets the same occluder whatever model asks. ``FrameCorruptor`` plugs into
``TopDownClipDataset.frame_transform`` and corrupts the key frame of each clip only (mode ``key``) or every frame
(``all``), caching each corrupted frame, as neighbouring clips share frames.
"""

from __future__ import annotations

import hashlib

import numpy as np

from dsta.core.configs import CORRUPTION_MODES, CORRUPTIONS, IMAGENET_C_CORRUPTIONS, SEVERITIES
from dsta.core.errors import DataError

OCCLUDED_AREA = (0.1, 0.2, 0.3, 0.4, 0.5)  # fraction of the person box an occluder covers, severity 1..5


def corruption_seed(image: str, corruption: str, severity: int) -> int:
    """The seed of one corrupted frame: a hash of (image file name, corruption, severity), the same everywhere."""
    digest = hashlib.blake2b(f"{image}|{corruption}|{int(severity)}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def _check(corruption: str, severity: int) -> None:
    if corruption not in CORRUPTIONS:
        raise DataError(None, "robustness.corruptions", f"{corruption!r} is not one of {list(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise DataError(None, "robustness.severities", f"{severity!r} is not one of {list(SEVERITIES)}")


def _occlude(img: np.ndarray, box: np.ndarray, severity: int, rng: np.random.RandomState) -> np.ndarray:
    x, y, w, h = (float(v) for v in box)
    area = OCCLUDED_AREA[severity - 1]
    aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))  # occluder width / height, relative to the box's
    ow, oh = min(1.0, np.sqrt(area * aspect)), min(1.0, np.sqrt(area / aspect))
    fx, fy = rng.uniform(0.0, 1.0 - ow), rng.uniform(0.0, 1.0 - oh)
    color = rng.randint(0, 256, size=3).astype(img.dtype)
    x0, y0 = int(round(x + fx * w)), int(round(y + fy * h))
    x1, y1 = int(round(x + (fx + ow) * w)), int(round(y + (fy + oh) * h))
    out = img.copy()
    height, width = img.shape[:2]
    out[max(0, y0) : min(height, y1), max(0, x0) : min(width, x1)] = color
    return out


def corrupt_frame(
    img: np.ndarray, corruption: str, severity: int, image: str, box: np.ndarray | None = None
) -> np.ndarray:
    """``img`` (H, W, 3 uint8 RGB) corrupted; ``image`` (its file name) seeds the draws; ``box`` (x, y, w, h), the
    person box, is needed by ``occlusion`` only."""
    _check(corruption, severity)
    rng = np.random.RandomState(corruption_seed(image, corruption, severity))
    if corruption == "blank":
        return np.broadcast_to(img.reshape(-1, 3).mean(0).round().astype(np.uint8), img.shape).copy()
    if corruption == "occlusion":
        if box is None:
            raise DataError(None, "box", "occlusion needs the person box")
        return _occlude(img, box, severity, rng)
    assert corruption in IMAGENET_C_CORRUPTIONS
    from imagecorruptions import corrupt  # imported on use: numba compiles on first import

    # the package draws from numpy's global generator: seed it for this frame and put it back as it was
    state = np.random.get_state()
    np.random.seed(rng.randint(0, 2**31 - 1))
    try:
        out = corrupt(np.ascontiguousarray(img), corruption_name=corruption, severity=int(severity))
    finally:
        np.random.set_state(state)
    return np.asarray(out).astype(np.uint8).reshape(img.shape)


class FrameCorruptor:
    """A ``TopDownClipDataset.frame_transform``: corrupts the key frame of each clip (``mode="key"``) or every frame
    of it (``"all"``), with one cache of corrupted frames (keyed by file name, and box for ``occlusion``) that the
    modes of one (corruption, severity) may share."""

    def __init__(self, corruption: str, severity: int, mode: str, cache: dict | None = None) -> None:
        _check(corruption, severity)
        if mode not in CORRUPTION_MODES:
            raise DataError(None, "robustness.modes", f"{mode!r} is not one of {list(CORRUPTION_MODES)}")
        self.corruption, self.severity, self.mode = corruption, int(severity), mode
        self.cache = {} if cache is None else cache

    def __call__(self, img: np.ndarray, file_name: str, box: np.ndarray, is_key: bool) -> np.ndarray:
        if self.mode == "key" and not is_key:
            return img
        key = (file_name, tuple(float(v) for v in box) if self.corruption == "occlusion" else None)
        if key not in self.cache:
            self.cache[key] = corrupt_frame(img, self.corruption, self.severity, file_name, box)
        return self.cache[key]
