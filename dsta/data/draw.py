"""Drawing skeletons on frames (the demo, the reports' qualitative strips)."""

from __future__ import annotations

import cv2
import numpy as np

from dsta.core import keypoints as kp

TRACK_COLORS = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
)


def draw_pose(
    img: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray | None = None,
    color: tuple[int, int, int] = (0, 255, 0),
    threshold: float = 0.0,
    thickness: int = 2,
) -> np.ndarray:
    """Draw one person's skeleton (RGB image, in place); joints scoring below ``threshold`` are left out."""
    ok = np.ones(len(keypoints), bool) if scores is None else np.asarray(scores) >= threshold
    pts = np.round(np.asarray(keypoints)).astype(int)
    for a, b in kp.SKELETON:
        if ok[a] and ok[b]:
            cv2.line(img, tuple(pts[a]), tuple(pts[b]), color, thickness, cv2.LINE_AA)
    for i in np.flatnonzero(ok):
        if kp.KEYPOINT_NAMES[i] not in kp.UNANNOTATED_KEYPOINTS:
            cv2.circle(img, tuple(pts[i]), thickness + 1, color, -1, cv2.LINE_AA)
    return img


def track_color(track_id: int) -> tuple[int, int, int]:
    return TRACK_COLORS[track_id % len(TRACK_COLORS)]
