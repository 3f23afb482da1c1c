"""Poseval's per-frame assignment of predicted to GT people by PCKh, for all frames at once."""

from __future__ import annotations

import numpy as np

from dsta.evaluate.read import J15, People

PCKH_THRESHOLD = 0.5


def _dense(frame: np.ndarray, n_frames: int) -> tuple[np.ndarray, int]:
    """Slot of each person in a (frame, slot) grid, keeping file order inside each frame, and the grid width."""
    order = np.argsort(frame, kind="stable")
    counts = np.bincount(frame, minlength=n_frames)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.empty(len(frame), dtype=np.int64)
    slot[order] = np.arange(len(frame)) - starts[frame[order]]
    return slot, int(counts.max()) if len(counts) and counts.max() > 0 else 0


def match_frames(gt: People, pr: People, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Poseval's per-frame assignment, for all frames at once.

    Returns:
        labels: (M, 15) bool, for each predicted person (row of ``pr``) and joint, true positive or not.
        n_gt: (15,) number of annotated GT joints.
    """
    gt_frame, pr_frame = gt.frame, pr.frame
    g_slot, g_max = _dense(gt_frame, n_frames)
    p_slot, p_max = _dense(pr_frame, n_frames)
    labels = np.zeros((len(pr_frame), J15), dtype=bool)
    n_gt = gt.has.sum(0).astype(np.float64)
    if g_max == 0 or p_max == 0:
        return labels, n_gt
    g_xy = np.zeros((n_frames, g_max, J15, 2))
    g_has = np.zeros((n_frames, g_max, J15), dtype=bool)
    g_head = np.ones((n_frames, g_max))
    g_real = np.zeros((n_frames, g_max), dtype=bool)
    g_xy[gt_frame, g_slot], g_has[gt_frame, g_slot] = gt.xy, gt.has
    g_head[gt_frame, g_slot], g_real[gt_frame, g_slot] = gt.head, True
    p_xy = np.zeros((n_frames, p_max, J15, 2))
    p_has = np.zeros((n_frames, p_max, J15), dtype=bool)
    p_real = np.zeros((n_frames, p_max), dtype=bool)
    p_xy[pr_frame, p_slot], p_has[pr_frame, p_slot], p_real[pr_frame, p_slot] = pr.xy, pr.has, True

    with np.errstate(divide="ignore", invalid="ignore"):
        diff = p_xy[:, :, None] - g_xy[:, None]  # (F, P, G, 15, 2)
        dist = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2) / g_head[:, None, :, None]
        both = p_has[:, :, None] & g_has[:, None]
        match = both & (dist <= PCKH_THRESHOLD)  # (F, P, G, 15)
        n_gtp = g_has.sum(-1)  # (F, G)
        hits = match.sum(-1).astype(np.float64)  # (F, P, G)
        pck = np.where(n_gtp[:, None] > 0, hits / np.maximum(n_gtp[:, None], 1), hits)
    # padding never wins an argmax: real entries are >= 0
    pck = np.where(g_real[:, None, :] & p_real[:, :, None], pck, -1.0)
    best_g = pck.argmax(2)  # (F, P): each prediction keeps its best GT only
    keep = np.arange(g_max)[None, None, :] == best_g[:, :, None]
    pck2 = np.where(keep, pck, np.where(p_real[:, :, None], 0.0, -1.0))
    best_p = pck2.argmax(1)  # (F, G)
    best_val = np.take_along_axis(pck2, best_p[:, None, :], 1)[:, 0]
    assigned = (best_val > 0) & g_real  # GT g takes prediction best_p
    f_idx, g_idx = np.nonzero(assigned)
    p_idx = best_p[f_idx, g_idx]
    frame_labels = np.zeros((n_frames, p_max, J15), dtype=bool)
    frame_labels[f_idx, p_idx] = match[f_idx, p_idx, g_idx]
    labels = frame_labels[pr_frame, p_slot]
    return labels, n_gt
