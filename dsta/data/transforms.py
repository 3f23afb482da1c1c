"""Top-down transforms, applied identically to every frame of a clip, built from mmpose's own transforms.

mmpose's ``RandomFlip`` and ``TopdownAffine`` already accept a list of images and apply one flip and one warp to all
of them; ``RandomBBoxTransform`` and ``RandomHalfBody`` only touch the box. So one ``results`` dict carries the whole
clip, the key frame's keypoints, and one random draw of each augmentation.

Targets: normalized coordinates ``x / W, y / H`` in ``[0, 1]`` of the input crop with per-joint weights (the official
DSTA/RLE convention) for regression models, and mmpose's ``MSRAHeatmap`` codec for heatmap models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsta.core import keypoints as kp
from dsta.core.configs import HALF_BODY_RULES
from dsta.core.errors import DataError

IMAGENET_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)  # RGB, 0-255
IMAGENET_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


DISTRIBUTIONS = ("mmpose", "official")


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation.

    Args:
        flip_prob: probability of a horizontal flip (with the flip pairs of ``dsta.core.keypoints``).
        scale_factor: ``s``; the box scale is multiplied by a factor around 1 with std ``s``, within ``[1-s, 1+s]``.
        rotate_factor: ``r``; rotation in degrees around 0 with std ``r``.
        rotate_prob: probability of rotating at all.
        half_body_prob: probability of cropping to the upper or lower body.
        half_body_min_keypoints: half-body needs at least this many annotated keypoints (``half_body_rule: mmpose``),
            more than this many (``official``, the release's ``> NUM_JOINTS_HALF_BODY``).
        distribution: how scale and rotation are drawn. ``"mmpose"`` (mmpose's ``RandomBBoxTransform``): truncated
            normals, the scale resampled within ``[1-s, 1+s]`` and the rotation within ``[-r, r]``. ``"official"``
            (DCPose/DSTA ``datasets/zoo/posetrack/PoseTrack.py``): clipped normals, scale ``clip(N(1, s), 1-s, 1+s)``
            and rotation ``clip(N(0, r), -2r, 2r)`` (to +-90 degrees for r=45), so the bounds carry the clipped mass.
        half_body_rule: which half to keep. ``"mmpose"`` (mmpose's ``RandomHalfBody``): the upper body with
            probability 0.7 where at least 2 upper and 3 lower joints are annotated, else the half that has enough.
            ``"official"`` (the release's; ``OfficialHalfBody``): the upper body when ``randn() < 0.5`` and more than
            2 upper joints are annotated, else the lower body when more than 2 are, else the upper body.
    """

    flip_prob: float = 0.5
    scale_factor: float = 0.35
    rotate_factor: float = 45.0
    rotate_prob: float = 0.6
    half_body_prob: float = 0.3
    half_body_min_keypoints: int = 8
    distribution: str = "mmpose"
    half_body_rule: str = "mmpose"

    def __post_init__(self) -> None:
        if self.distribution not in DISTRIBUTIONS:
            raise DataError(
                None, "augment.distribution", f"must be one of {list(DISTRIBUTIONS)}, got {self.distribution!r}"
            )
        if self.half_body_rule not in HALF_BODY_RULES:
            raise DataError(
                None, "augment.half_body_rule", f"must be one of {list(HALF_BODY_RULES)}, got {self.half_body_rule!r}"
            )
        for name in ("flip_prob", "rotate_prob", "half_body_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise DataError(None, f"augment.{name}", f"must be a probability in [0, 1], got {v}")
        if not 0.0 <= self.scale_factor < 1.0:
            raise DataError(None, "augment.scale_factor", f"must be in [0, 1), got {self.scale_factor}")
        if self.rotate_factor < 0:
            raise DataError(None, "augment.rotate_factor", f"must be >= 0, got {self.rotate_factor}")


def build_pipeline(
    input_size: tuple[int, int], train: bool, augment: AugmentConfig | None = None, padding: float = 1.25
) -> list:
    """mmpose transforms for a clip: box -> centre/scale (x padding), [flip, half-body, scale/rotate], warp.

    Args:
        input_size: (width, height) of the network input.
        train: add the random augmentations.
        augment: their parameters (defaults when None).
        padding: box enlargement factor.
    """
    from mmpose.datasets.transforms import (
        GetBBoxCenterScale,
        RandomBBoxTransform,
        RandomFlip,
        RandomHalfBody,
        TopdownAffine,
    )

    if padding <= 0:
        raise DataError(None, "data.box_enlarge", f"must be > 0, got {padding}")
    pipeline = [GetBBoxCenterScale(padding=padding)]
    if train:
        aug = augment or AugmentConfig()
        if aug.distribution == "official":
            scale_rotate = ClippedNormalBBoxTransform(aug.scale_factor, aug.rotate_factor, aug.rotate_prob)
        else:
            scale_rotate = RandomBBoxTransform(
                shift_prob=0.0,
                scale_factor=(1 - aug.scale_factor, 1 + aug.scale_factor),
                rotate_factor=aug.rotate_factor,
                rotate_prob=aug.rotate_prob,
            )
        if aug.half_body_rule == "official":
            half_body = OfficialHalfBody(aug.half_body_prob, aug.half_body_min_keypoints)
        else:
            half_body = RandomHalfBody(min_total_keypoints=aug.half_body_min_keypoints, prob=aug.half_body_prob)
        pipeline += [RandomFlip(prob=aug.flip_prob, direction="horizontal"), half_body, scale_rotate]
    pipeline.append(TopdownAffine(input_size=tuple(int(v) for v in input_size)))
    return pipeline


class ClippedNormalBBoxTransform:
    """The official scale and rotation draw (DCPose/DSTA ``datasets/zoo/posetrack/PoseTrack.py``): scale factor
    ``clip(N(1, s), 1 - s, 1 + s)``, then with probability ``rotate_prob`` a rotation ``clip(N(0, r), -2r, 2r)``
    degrees, else 0. Sets the fields mmpose's ``RandomBBoxTransform`` sets (no shift, as there). Draws from numpy's
    global generator, which the dataset seeds per sample."""

    def __init__(self, scale_factor: float, rotate_factor: float, rotate_prob: float) -> None:
        self.scale_factor, self.rotate_factor, self.rotate_prob = scale_factor, rotate_factor, rotate_prob

    def __call__(self, results: dict) -> dict:
        n = results["bbox_scale"].shape[0]
        s, r = self.scale_factor, self.rotate_factor
        scale = np.clip(np.random.randn(n, 1) * s + 1, 1 - s, 1 + s)
        rotate = np.clip(np.random.randn(n) * r, -2 * r, 2 * r)
        rotate = np.where(np.random.rand(n) < self.rotate_prob, rotate, 0.0)
        results["bbox_scale"] = results["bbox_scale"] * scale.astype(np.float32)
        results["bbox_rotation"] = rotate.astype(np.float32)
        return results


class OfficialHalfBody:
    """The release's half-body augmentation (zgspose/DSTA ``datasets/zoo/posetrack/PoseTrack.py`` and
    ``half_body_transform`` in ``datasets/process/pose_process.py``; DCPose's is the same): where more than
    ``min_keypoints`` joints are annotated and ``rand() < prob``, the box becomes the upper body when
    ``randn() < 0.5`` (so with probability 0.69) and more than 2 upper joints are annotated, else the lower body when
    more than 2 lower joints are, else the upper body; its centre is the mean of those joints and its size their
    extent x ``padding`` (1.5). The release fixes the aspect ratio before the x1.5; ``TopdownAffine`` fixes it after,
    which is the same box.
    The release halves the body before its flip and this pipeline after: the halves are mirror images of each other,
    so the draws are the same. Draws from numpy's global generator, which the dataset seeds per sample."""

    def __init__(self, prob: float, min_keypoints: int, padding: float = 1.5) -> None:
        self.prob, self.min_keypoints, self.padding = prob, min_keypoints, padding

    def __call__(self, results: dict) -> dict:
        visible = results["keypoints_visible"][0] > 0
        if not (visible.sum() > self.min_keypoints and np.random.rand() < self.prob):
            return results
        upper = [i for i in results["upper_body_ids"] if visible[i]]
        lower = [i for i in results["lower_body_ids"] if visible[i]]
        if np.random.randn() < 0.5 and len(upper) > 2:
            chosen = upper
        else:
            chosen = lower if len(lower) > 2 else upper
        if len(chosen) < 2:  # the release returns no box here (reachable only with min_keypoints < 4): keep the box
            return results
        points = results["keypoints"][0][chosen]
        results["bbox_center"] = points.mean(axis=0)[None].astype(np.float32)
        results["bbox_scale"] = ((points.max(axis=0) - points.min(axis=0)) * self.padding)[None].astype(np.float32)
        return results


def run_pipeline(
    pipeline: list, images: list[np.ndarray], box_xywh: np.ndarray, keypoints: np.ndarray, visible: np.ndarray
) -> dict:
    """Apply ``pipeline`` to a clip.

    Args:
        images: T RGB images (H, W, 3), temporal order.
        box_xywh: the person box in the key frame.
        keypoints: (17, 2) key-frame keypoints in image pixels (zeros when unknown).
        visible: (17,) annotation flags.

    Returns:
        mmpose's results dict: ``img`` (list of T crops), ``transformed_keypoints`` (1, 17, 2) in crop pixels,
        ``keypoints_visible`` (1, 17), ``input_center``, ``input_scale``, ``bbox_rotation`` (when rotated), ``flip``.
    """
    x, y, w, h = (float(v) for v in box_xywh)
    height, width = images[0].shape[:2]
    results = {
        "img": list(images),
        "img_shape": (height, width),
        "ori_shape": (height, width),
        "bbox": np.array([[x, y, x + w, y + h]], dtype=np.float32),
        "bbox_score": np.ones(1, dtype=np.float32),
        "keypoints": keypoints[None].astype(np.float32),
        "keypoints_visible": visible[None].astype(np.float32),
        "flip_indices": list(kp.FLIP_INDICES),
        "upper_body_ids": list(kp.UPPER_BODY_INDICES),
        "lower_body_ids": list(kp.LOWER_BODY_INDICES),
    }
    for t in pipeline:
        out = t(results)
        if out is not None:
            results = out
    return results


def warp_matrix(
    center: np.ndarray, scale: np.ndarray, rotation: float, input_size: tuple[int, int], inverse: bool = False
) -> np.ndarray:
    """The 2x3 affine matrix image -> crop (or crop -> image with ``inverse``), as mmpose's TopdownAffine uses."""
    from mmpose.structures.bbox import get_warp_matrix

    return get_warp_matrix(
        np.asarray(center, np.float32),
        np.asarray(scale, np.float32),
        float(rotation),
        output_size=tuple(int(v) for v in input_size),
        inv=inverse,
    )


def crop_to_image(
    points: np.ndarray, center: np.ndarray, scale: np.ndarray, rotation: float, input_size: tuple[int, int]
) -> np.ndarray:
    """Map (..., 2) crop-pixel coordinates back to image pixels."""
    mat = warp_matrix(center, scale, rotation, input_size, inverse=True)
    pts = np.asarray(points, dtype=np.float64)
    return pts @ mat[:, :2].T + mat[:, 2]


def regression_target(
    crop_keypoints: np.ndarray, visible: np.ndarray, input_size: tuple[int, int], joint_weights: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Normalized coordinates ``(x / W, y / H)`` and per-joint weights (17, 2).

    A joint gets weight 0 where it is not annotated or falls outside the crop, else its loss weight from
    ``dsta.core.keypoints.JOINT_LOSS_WEIGHTS`` (1 for all with ``joint_weights=False``).
    """
    w, h = input_size
    xy = np.asarray(crop_keypoints, dtype=np.float32).reshape(-1, 2)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
    weight = (np.asarray(visible).reshape(-1) > 0) & inside
    per_joint = np.asarray(kp.JOINT_LOSS_WEIGHTS, np.float32) if joint_weights else np.ones(len(xy), np.float32)
    target = xy / np.array([w, h], dtype=np.float32)
    weights = (weight.astype(np.float32) * per_joint)[:, None].repeat(2, axis=1)
    return target.astype(np.float32), weights


def heatmap_codec(input_size: tuple[int, int], heatmap_size: tuple[int, int], sigma: float = 2.0):
    """mmpose's MSRA heatmap codec (Gaussian targets; decoding with the quarter-offset sub-pixel refinement)."""
    from mmpose.codecs import MSRAHeatmap

    return MSRAHeatmap(input_size=tuple(input_size), heatmap_size=tuple(heatmap_size), sigma=sigma)


def normalize_clip(crops: list[np.ndarray]) -> np.ndarray:
    """T RGB uint8 crops -> (T, 3, H, W) float32, ImageNet-normalized."""
    arr = np.stack(crops).astype(np.float32)
    arr = (arr - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))


def unflip_keypoints(points: np.ndarray, image_width: int) -> np.ndarray:
    """Undo a horizontal flip of the whole image: mirror x (``x -> W - 1 - x``, as mmpose flips) and swap the
    left/right joints back. ``points`` is (17, 2) in flipped-image pixels."""
    out = np.asarray(points, dtype=np.float64)[list(kp.FLIP_INDICES)].copy()
    out[:, 0] = image_width - 1 - out[:, 0]
    return out
