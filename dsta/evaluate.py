"""PoseTrack multi-person pose AP, with the semantics of the official evaluator (poseval ``evaluateAP``), vectorized.

What is computed, step by step, as poseval does it:

1. The GT files are taken in directory-listing order (poseval's ``glob``). Each GT file (PoseTrack17 annolist or
   PoseTrack18/21) is paired with the prediction file of the same name; their
   frames are paired in file order. PoseTrack18 keypoints stored as ``(0, 0, 0)`` are "not there" (the ears always);
   the 17 keypoints become poseval's 15 joints (ears dropped).
2. Frames whose GT lists no person at all are dropped, together with their predictions.
3. Inside the GT frame's ignore regions (polygons; a point on the border is outside), GT and predicted points are
   removed.
4. Per frame, each predicted person p and GT person g get ``PCKh(p, g)``: the fraction of g's annotated joints that p
   predicts within ``0.5 * head size``, head size being ``0.6 *`` the diagonal of g's head box. Each prediction keeps
   only its best GT (first on ties); each GT then takes the prediction with the highest remaining PCKh (first on ties),
   if that PCKh is above 0. A matched prediction's joints are true positives where they lie within the threshold;
   every other predicted joint is a false positive.
5. Per joint, all predicted joints of all frames, ordered by score (numpy's ``argsort`` reversed, as poseval; under
   numpy 2 ties then break exactly as in poseval run with numpy 2), give a precision/recall curve; AP is the VOC area under its monotone envelope.
6. ``Head``..``Ankl`` are plain means of their joints' APs; ``Total`` is the mean over the 15 joints (joints with no
   GT at all are NaN and left out of ``Total``).

``python -m dsta.evaluate --gt GT_DIR --pred PRED_DIR [--out metrics.json] [--split-by FIELD] [--backend poseval]``
"""
from __future__ import annotations

import argparse
import os
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from dsta import keypoints as kp
from dsta.errors import DataError, main_guard
from dsta.io import load_json, write_json

PCKH_THRESHOLD = 0.5
HEAD_SIZE_FACTOR = 0.6
MAX_TRACK_ID = 10_000
J15 = kp.NUM_POSEVAL_JOINTS
_TO_15 = np.array(kp.POSEVAL_TO_KEYPOINT)  # 15 poseval joints <- 17 keypoints


@dataclass
class _People:
    """All people of one file, flattened: one row per person, in file order."""

    frame: np.ndarray  # (N,) index of the frame in the file
    xy: np.ndarray  # (N, 15, 2)
    has: np.ndarray  # (N, 15) bool: the joint is there
    head: np.ndarray  # (N,) head size (GT) or NaN
    score: np.ndarray  # (N, 15) scores (predictions) or NaN


@dataclass
class _File:
    path: Path
    image_ids: list  # per frame, to pair GT and predictions
    has_people: np.ndarray  # (F,) bool: the frame lists at least one person
    regions: dict[int, list[np.ndarray]]  # frame -> ignore polygons
    flags: list[dict]  # per frame, boolean image fields
    people: _People


def _finite_array(path: Path, where: str, values: Any, shape_last: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(path, where, "expected numbers") from None
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr.reshape(-1)))[0])
        raise DataError(path, f"{where}[{bad}]", "NaN or infinite value")
    return arr


def _finite_rows(path: Path, field: str, rows: list, width: int, index: list[int] | None = None) -> np.ndarray:
    """Stack equal-length lists of numbers into an (n, width) float array; the first non-number or non-finite value
    is reported by its field, e.g. ``annotations[3].keypoints[7]``."""
    try:
        arr = np.array(rows, dtype=np.float64).reshape(len(rows), width)
    except (TypeError, ValueError):
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    name = field.format(index[r] if index else r)
                    raise DataError(path, f"{name}[{c}]", f"expected a number, got {v!r}")
        raise
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(path, f"{field.format(index[r] if index else r)}[{c}]", "NaN or infinite value")
    return arr


def _read_posetrack18(path: Path, data: dict, is_pred: bool) -> _File:
    images, anns = data.get("images"), data.get("annotations")
    if not isinstance(images, list) or not isinstance(anns, list):
        raise DataError(path, "images" if not isinstance(images, list) else "annotations", "expected a list")
    if not images:
        raise DataError(path, "images", "empty sequence: no images")
    order = np.arange(kp.NUM_KEYPOINTS)
    cats = data.get("categories")
    if cats and isinstance(cats[0], dict) and cats[0].get("keypoints") is not None:
        names = cats[0]["keypoints"]
        if not isinstance(names, list) or sorted(names) != sorted(kp.KEYPOINT_NAMES):
            raise DataError(path, "categories[0].keypoints", f"expected the 17 PoseTrack keypoint names, got {names}")
        order = np.array([names.index(n) for n in kp.KEYPOINT_NAMES])  # our order <- file order
    frame_of: dict[Any, int] = {}
    image_ids, flags, regions = [], [], {}
    for i, img in enumerate(images):
        if not isinstance(img, dict) or "id" not in img:
            raise DataError(path, f"images[{i}].id", "missing")
        if img["id"] in frame_of:
            raise DataError(path, f"images[{i}].id", f"duplicate image id {img['id']}")
        frame_of[img["id"]] = i
        image_ids.append(img["id"])
        flags.append({k: v for k, v in img.items() if isinstance(v, bool)})
        xs, ys = img.get("ignore_regions_x"), img.get("ignore_regions_y")
        if xs:
            if not isinstance(ys, list) or len(xs) != len(ys):
                raise DataError(path, f"images[{i}].ignore_regions_y", "must match ignore_regions_x")
            regions[i] = [np.column_stack([_finite_array(path, f"images[{i}].ignore_regions_x", x),
                                           _finite_array(path, f"images[{i}].ignore_regions_y", y)])
                          for x, y in zip(xs, ys)]
    n = len(anns)
    frame = np.zeros(n, dtype=np.int64)
    kp_rows, score_rows, head_rows, head_idx = [], [], [], []
    tracks: dict[tuple[int, Any], int] = {}
    for j, ann in enumerate(anns):
        where = f"annotations[{j}]"
        if not isinstance(ann, dict):
            raise DataError(path, where, "expected an object")
        f = frame_of.get(ann.get("image_id"))
        if f is None:
            raise DataError(path, f"{where}.image_id", f"refers to no image in this file ({ann.get('image_id')!r})")
        frame[j] = f
        values = ann.get("keypoints")
        if not isinstance(values, list) or len(values) != 3 * kp.NUM_KEYPOINTS:
            got = len(values) if isinstance(values, list) else values
            raise DataError(path, f"{where}.keypoints", f"expected 17x3=51 values, got {got}")
        kp_rows.append(values)
        if is_pred:
            s = ann.get("scores")
            if not isinstance(s, list) or len(s) != kp.NUM_KEYPOINTS:
                raise DataError(path, f"{where}.scores", "predictions need 17 per-keypoint scores, got "
                                                         f"{len(s) if isinstance(s, list) else s!r}")
            score_rows.append(s)
            track = ann.get("track_id")
            if track is not None:
                key = (f, track)
                if key in tracks:
                    raise DataError(path, f"{where}.track_id",
                                    f"duplicate track id {track} in image {ann['image_id']} "
                                    f"(also annotations[{tracks[key]}])")
                tracks[key] = j
        elif ann.get("bbox_head") is not None:
            box = ann["bbox_head"]
            if not isinstance(box, list) or len(box) != 4:
                raise DataError(path, f"{where}.bbox_head", f"expected [x, y, w, h], got {box!r}")
            head_rows.append(box)
            head_idx.append(j)
    kps = _finite_rows(path, "annotations[{}].keypoints", kp_rows, 3 * kp.NUM_KEYPOINTS)
    kps = kps.reshape(n, kp.NUM_KEYPOINTS, 3)[:, order]
    score = np.full((n, kp.NUM_KEYPOINTS), np.nan)
    if is_pred:
        score = _finite_rows(path, "annotations[{}].scores", score_rows, kp.NUM_KEYPOINTS)[:, order]
    head = np.full(n, np.nan)
    if head_rows:
        b = _finite_rows(path, "annotations[{}].bbox_head", head_rows, 4, head_idx)
        # poseval converts [x, y, w, h] to x1, x2 = x, x + w and measures x2 - x1; do the same arithmetic
        head[head_idx] = HEAD_SIZE_FACTOR * np.hypot((b[:, 0] + b[:, 2]) - b[:, 0], (b[:, 1] + b[:, 3]) - b[:, 1])
    # a point stored as (0, 0, 0) is absent; any other point is there (poseval's PoseTrack18 -> 17 conversion)
    present = ~((kps[..., 0] == 0) & (kps[..., 1] == 0) & (kps[..., 2] == 0))
    has_people = np.zeros(len(images), dtype=bool)
    has_people[frame] = True
    people = _People(frame=frame, xy=kps[:, _TO_15, :2], has=present[:, _TO_15], head=head, score=score[:, _TO_15])
    _check_gt_heads(path, people, is_pred, "annotations[{}].bbox_head")
    return _File(path=path, image_ids=image_ids, has_people=has_people, regions=regions, flags=flags, people=people)


def _read_posetrack17(path: Path, data: dict, is_pred: bool) -> _File:
    annolist = data["annolist"]
    if not isinstance(annolist, list) or not annolist:
        raise DataError(path, "annolist", "empty sequence: no images")
    image_ids, flags, regions = [], [], {}
    frame, xy, has, head, score = [], [], [], [], []
    has_people = np.zeros(len(annolist), dtype=bool)

    def first(v):
        return v[0] if isinstance(v, list) else v

    for i, entry in enumerate(annolist):
        where = f"annolist[{i}]"
        try:
            image_ids.append(first(entry["image"])["name"])
        except (KeyError, TypeError, IndexError):
            raise DataError(path, f"{where}.image", "expected [{'name': ...}]") from None
        flags.append({})
        rects = entry.get("annorect") or []
        has_people[i] = len(rects) > 0
        if entry.get("ignore_regions"):
            regions[i] = [np.array([[first(p["x"]), first(p["y"])] for p in r.get("point", [])], dtype=np.float64)
                          .reshape(-1, 2) for r in entry["ignore_regions"]]
        tracks = set()
        for r, rect in enumerate(rects):
            rw = f"{where}.annorect[{r}]"
            ap = rect.get("annopoints")
            if not ap or not isinstance(ap[0], dict) or "point" not in ap[0]:
                continue  # poseval drops rects without points
            p_xy, p_has, p_score = np.zeros((J15, 2)), np.zeros(J15, bool), np.full(J15, np.nan)
            for q, point in enumerate(ap[0]["point"] or []):
                pid = int(first(point.get("id")))
                if not 0 <= pid < J15:
                    raise DataError(path, f"{rw}.annopoints[0].point[{q}].id", f"joint id {pid} not in 0..14")
                p_xy[pid] = _finite_array(path, f"{rw}.annopoints[0].point[{q}]",
                                          [first(point.get("x")), first(point.get("y"))])
                p_has[pid] = True
                if is_pred:
                    if "score" not in point:
                        raise DataError(path, f"{rw}.annopoints[0].point[{q}].score", "predictions need scores")
                    p_score[pid] = _finite_array(path, f"{rw}.annopoints[0].point[{q}].score", first(point["score"]))
            if is_pred and "track_id" in rect:
                t = first(rect["track_id"])
                if t in tracks:
                    raise DataError(path, f"{rw}.track_id", f"duplicate track id {t} in this frame")
                tracks.add(t)
            h = np.nan
            if all(k in rect for k in ("x1", "y1", "x2", "y2")):
                x1, y1, x2, y2 = (float(first(rect[k])) for k in ("x1", "y1", "x2", "y2"))
                h = HEAD_SIZE_FACTOR * math.hypot(x2 - x1, y2 - y1)
            elif not is_pred and p_has.any():
                raise DataError(path, f"{rw}.x1", "GT person with keypoints has no head box (x1, y1, x2, y2)")
            frame.append(i), xy.append(p_xy), has.append(p_has), head.append(h), score.append(p_score)
    people = _People(frame=np.array(frame, dtype=np.int64), xy=np.array(xy).reshape(-1, J15, 2),
                     has=np.array(has, dtype=bool).reshape(-1, J15), head=np.array(head, dtype=np.float64),
                     score=np.array(score).reshape(-1, J15))
    return _File(path=path, image_ids=image_ids, has_people=has_people, regions=regions, flags=flags, people=people)


def _check_gt_heads(path: Path, people: _People, is_pred: bool, field: str) -> None:
    if is_pred:
        return
    missing = np.flatnonzero(np.isnan(people.head) & people.has.any(1))
    if len(missing):
        raise DataError(path, field.format(int(missing[0])), "GT person with keypoints has no head box")


def read_file(path: str | Path, is_pred: bool) -> _File:
    """Read a GT or prediction file in any PoseTrack format into poseval's view of it."""
    path = Path(path)
    data = load_json(path)
    if isinstance(data, dict) and "annolist" in data:
        return _read_posetrack17(path, data, is_pred)
    if isinstance(data, dict) and "images" in data and "annotations" in data:
        return _read_posetrack18(path, data, is_pred)
    raise DataError(path, None, "unknown format: expected 'annolist' (PoseTrack17) or 'images'+'annotations' "
                                "(PoseTrack18/21)")


def _remove_ignored(f: _File, gt_regions: dict[int, list[np.ndarray]]) -> None:
    """Drop the points that lie inside the frame's ignore polygons (strictly inside, as shapely's ``contains``)."""
    if not gt_regions:
        return
    import shapely

    people = f.people
    for frame_idx, polys in gt_regions.items():
        rows = np.flatnonzero(people.frame == frame_idx)
        if not len(rows):
            continue
        pts = people.xy[rows].reshape(-1, 2)
        inside = np.zeros(len(pts), dtype=bool)
        for poly in polys:
            if len(poly) < 3:
                continue  # not a polygon (poseval would crash on it)
            inside |= shapely.contains_xy(shapely.Polygon(poly), pts[:, 0], pts[:, 1])
        people.has[rows] &= ~inside.reshape(len(rows), J15)


# ----------------------------------------------------------------------------------------------------------------
# matching and AP


def _dense(frame: np.ndarray, n_frames: int) -> tuple[np.ndarray, int]:
    """Slot of each person in a (frame, slot) grid, keeping file order inside each frame, and the grid width."""
    order = np.argsort(frame, kind="stable")
    counts = np.bincount(frame, minlength=n_frames)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.empty(len(frame), dtype=np.int64)
    slot[order] = np.arange(len(frame)) - starts[frame[order]]
    return slot, int(counts.max()) if len(counts) and counts.max() > 0 else 0


def match_frames(gt: _People, gt_frame: np.ndarray, pr: _People, pr_frame: np.ndarray, n_frames: int):
    """Poseval's per-frame assignment, for all frames at once.

    Returns:
        labels: (M, 15) bool, for each predicted person and joint, true positive or not.
        n_gt: (15,) number of annotated GT joints.
    """
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


def voc_ap(scores: np.ndarray, labels: np.ndarray, n_pos: float) -> tuple[float, float, float]:
    """AP, final precision and final recall (in %) of one joint; AP is 0 without predictions, NaN without GT."""
    if len(scores) == 0:
        return 0.0, 0.0, 0.0
    order = np.array(scores).argsort()[::-1]  # poseval's exact call: ties break identically
    tp = np.cumsum(labels[order] == 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = 1.0 * tp / n_pos
    precision = 1.0 * tp / np.arange(1, len(tp) + 1)
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    ap = np.sum((mrec[i] - mrec[i - 1]) * mpre[i])
    return float(ap * 100), float(precision[-1] * 100), float(recall[-1] * 100)


def _summary(ap: np.ndarray, pre: np.ndarray, rec: np.ndarray) -> dict:
    def mean_finite(v: np.ndarray) -> float:
        v = v[~np.isnan(v)]
        return float(v.mean()) if len(v) else float("nan")

    out = {g: float(np.mean(ap[list(idx)])) for g, idx in kp.POSEVAL_GROUP_INDICES.items()}
    out["Total"] = mean_finite(ap)
    out["per_joint"] = [float(v) for v in ap]
    out["precision"] = mean_finite(pre)
    out["recall"] = mean_finite(rec)
    return out


@dataclass
class Loaded:
    """GT and predictions of a whole split, aligned frame by frame, after poseval's clean-up."""

    gt: _People
    gt_frame: np.ndarray
    pr: _People
    pr_frame: np.ndarray
    flags: list[dict]
    n_frames: int


def _concat(parts: list[_People], frames: list[np.ndarray]) -> tuple[_People, np.ndarray]:
    if not parts:
        z = np.zeros(0)
        return _People(np.zeros(0, np.int64), z.reshape(0, J15, 2), z.reshape(0, J15).astype(bool), z,
                       z.reshape(0, J15)), np.zeros(0, np.int64)
    return _People(
        frame=np.concatenate([p.frame for p in parts]),
        xy=np.concatenate([p.xy for p in parts]),
        has=np.concatenate([p.has for p in parts]),
        head=np.concatenate([p.head for p in parts]),
        score=np.concatenate([p.score for p in parts]),
    ), np.concatenate(frames)


def load(gt_dir: str | Path, pred_dir: str | Path) -> Loaded:
    """Read and align every GT file of ``gt_dir`` with its prediction file in ``pred_dir``."""
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    if not gt_dir.is_dir():
        raise DataError(gt_dir, None, "GT directory not found")
    if not pred_dir.is_dir():
        raise DataError(pred_dir, None, "prediction directory not found")
    # poseval globs the GT directory, i.e. takes the files in directory-listing order; that order decides how equal
    # scores from different sequences tie-break, so it is kept here too
    gt_files = [gt_dir / n for n in os.listdir(gt_dir) if n.endswith(".json")]
    if not gt_files:
        raise DataError(gt_dir, None, "no *.json GT files")
    gts, gt_frames, prs, pr_frames, flags = [], [], [], [], []
    offset = 0
    for gt_path in gt_files:
        pred_path = pred_dir / gt_path.name
        if not pred_path.is_file():
            raise DataError(pred_path, None, f"prediction file missing for GT sequence {gt_path.stem}")
        g = read_file(gt_path, is_pred=False)
        p = read_file(pred_path, is_pred=True)
        if len(p.image_ids) != len(g.image_ids):
            raise DataError(pred_path, "images", f"{len(p.image_ids)} frames, but GT {gt_path.name} has "
                                                 f"{len(g.image_ids)}")
        for i, (a, b) in enumerate(zip(g.image_ids, p.image_ids)):
            if a != b:
                field = f"images[{i}].id" if isinstance(b, int) else f"annolist[{i}].image"
                raise DataError(pred_path, field, f"{b!r} where GT {gt_path.name} has {a!r}")
        _remove_ignored(g, g.regions)
        _remove_ignored(p, g.regions)
        # poseval drops frames whose GT lists nobody, and their predictions with them
        keep = g.has_people
        new_index = np.cumsum(keep) - 1 + offset
        gk, pk = keep[g.people.frame], keep[p.people.frame]
        for src, sel, parts, frames in ((g.people, gk, gts, gt_frames), (p.people, pk, prs, pr_frames)):
            parts.append(_People(src.frame[sel], src.xy[sel], src.has[sel], src.head[sel], src.score[sel]))
            frames.append(new_index[src.frame[sel]])
        flags += [fl for fl, k in zip(g.flags, keep) if k]
        offset += int(keep.sum())
    gt, gt_frame = _concat(gts, gt_frames)
    pr, pr_frame = _concat(prs, pr_frames)
    return Loaded(gt=gt, gt_frame=gt_frame, pr=pr, pr_frame=pr_frame, flags=flags, n_frames=offset)


def _subset(data: Loaded, frames: np.ndarray) -> Loaded:
    new = np.full(data.n_frames, -1)
    new[frames] = np.arange(len(frames))

    def take(people: _People, frame: np.ndarray) -> tuple[_People, np.ndarray]:
        sel = new[frame] >= 0
        return (_People(people.frame[sel], people.xy[sel], people.has[sel], people.head[sel], people.score[sel]),
                new[frame[sel]])

    gt, gt_frame = take(data.gt, data.gt_frame)
    pr, pr_frame = take(data.pr, data.pr_frame)
    return Loaded(gt, gt_frame, pr, pr_frame, [data.flags[i] for i in frames], len(frames))


def compute(data: Loaded) -> dict:
    """AP per joint and poseval's columns for aligned data."""
    labels, n_gt = match_frames(data.gt, data.gt_frame, data.pr, data.pr_frame, data.n_frames)
    ap, pre, rec = np.zeros(J15), np.zeros(J15), np.zeros(J15)
    # poseval gathers scores frame by frame, prediction by prediction: our rows are already in that order
    order = np.lexsort((np.arange(len(data.pr_frame)), data.pr_frame))
    has, score, lab = data.pr.has[order], data.pr.score[order], labels[order]
    for j in range(J15):
        sel = has[:, j]
        ap[j], pre[j], rec[j] = voc_ap(score[sel, j], lab[sel, j].astype(np.int8), n_gt[j])
        if n_gt[j] == 0 and sel.any():
            ap[j], rec[j] = np.nan, np.nan
    return _summary(ap, pre, rec)


def evaluate(gt_dir: str | Path, pred_dir: str | Path, split_by: str | None = None) -> dict:
    """Poseval-identical AP of the predictions in ``pred_dir`` against the GT in ``gt_dir``.

    Args:
        gt_dir: one GT file per sequence (PoseTrack17 annolist or PoseTrack18/21).
        pred_dir: the prediction file of the same name for each (PoseTrack18 with ``scores``, or PoseTrack17).
        split_by: a boolean image field of the GT (e.g. ``corrupted``); the result then also holds
            ``split: {field, true: {...}, false: {...}}`` with the same metrics on each subset of frames.

    Returns:
        ``Head Shou Elb Wri Hip Knee Ankl Total`` (AP in %), ``per_joint`` (15 APs, poseval order), ``precision``
        and ``recall`` (means over joints of the final precision/recall, %), and ``num_frames``.
    """
    data = load(gt_dir, pred_dir)
    result = compute(data)
    result["num_frames"] = data.n_frames
    if split_by:
        values = [fl.get(split_by) for fl in data.flags]
        if all(v is None for v in values):
            raise DataError(gt_dir, f"images[].{split_by}", "no GT image has this boolean field")
        result["split"] = {"field": split_by}
        for flag in (True, False):
            frames = np.array([i for i, v in enumerate(values) if bool(v) is flag], dtype=np.int64)
            sub = compute(_subset(data, frames)) if len(frames) else None
            if sub is not None:
                sub["num_frames"] = int(len(frames))
            result["split"]["true" if flag else "false"] = sub
    return result


def evaluate_poseval(gt_dir: str | Path, pred_dir: str | Path) -> dict:
    """Run the official poseval package on the same directories (a cross-check; needs ``poseval`` importable)."""
    try:
        from poseval import eval_helpers, evaluateAP  # type: ignore
    except ImportError:
        raise DataError(None, "--backend", "poseval is not installed (it is not on PyPI: install it from its "
                                           "repository, with click, motmetrics, shapely and tqdm)") from None
    import tempfile

    gt_frames, pr_frames = eval_helpers.load_data_dir(["", str(gt_dir).rstrip("/") + "/",
                                                       str(pred_dir).rstrip("/") + "/"])
    with tempfile.TemporaryDirectory() as tmp:
        ap, pre, rec = evaluateAP.evaluateAP(gt_frames, pr_frames, tmp, bSaveAll=False)
    return _summary(ap[:J15, 0], pre[:J15, 0], rec[:J15, 0])


def format_table(metrics: Mapping) -> str:
    """The AP table as poseval prints it."""
    header = "& " + " & ".join(f"{c:<4}" for c in kp.POSEVAL_COLUMNS) + " \\\\"
    row = "& " + " & ".join(f"{metrics[c]:>5.1f}" if metrics[c] is not None else "  nan"
                            for c in kp.POSEVAL_COLUMNS) + " \\\\"
    return f"Average Precision (AP) metric:\n{header}\n{row}"


def to_json(metrics: Any) -> Any:
    """NaN -> null, so the metrics are valid JSON."""
    if isinstance(metrics, float):
        return None if math.isnan(metrics) else metrics
    if isinstance(metrics, dict):
        return {k: to_json(v) for k, v in metrics.items()}
    if isinstance(metrics, list):
        return [to_json(v) for v in metrics]
    return metrics


# ----------------------------------------------------------------------------------------------------------------
# writing predictions


@dataclass
class PosePrediction:
    """One predicted person in one frame, in image coordinates."""

    image_id: int
    keypoints: np.ndarray  # (17, 2)
    scores: np.ndarray  # (17,)
    box: np.ndarray | None = None  # x, y, w, h
    box_score: float = 1.0
    track_id: int = -1


def write_predictions(gt_dir: str | Path, predictions: Iterable[PosePrediction], out_dir: str | Path) -> list[Path]:
    """Write one PoseTrack18 prediction file per GT sequence of ``gt_dir`` into ``out_dir``.

    ``PosePrediction.image_id`` is the image id of PoseTrack18/21 GT, or for PoseTrack17 GT the id the dataset
    reader derives from the image name. Each file lists the GT file's images in the GT's order (so the evaluator can pair frames) and one annotation per
    prediction, with 17 keypoints (flag 1), 17 ``scores``, the box and a track id unique within the frame.
    """
    gt_dir, out_dir = Path(gt_dir), Path(out_dir)
    by_image: dict[int, list[PosePrediction]] = {}
    for p in predictions:
        if p.keypoints.shape != (kp.NUM_KEYPOINTS, 2) or p.scores.shape != (kp.NUM_KEYPOINTS,):
            raise DataError(None, "predictions", f"expected (17, 2) keypoints and (17,) scores for image "
                                                 f"{p.image_id}, got {p.keypoints.shape} and {p.scores.shape}")
        if not (np.isfinite(p.keypoints).all() and np.isfinite(p.scores).all()):
            raise DataError(None, "predictions", f"NaN or infinite keypoint/score for image {p.image_id}")
        by_image.setdefault(int(p.image_id), []).append(p)
    written = []
    for gt_path in sorted(gt_dir.glob("*.json")):
        gt = load_json(gt_path)
        if "annolist" in gt:
            # PoseTrack17 GT: frames are paired by image name; the dataset numbered them like PoseTrack18 ids
            from dsta.data.posetrack import posetrack17_image_id

            names = [e["image"][0]["name"] for e in gt["annolist"]]
            images = [{"id": name, "file_name": name} for name in names]
            keys = [posetrack17_image_id(name, i) for i, name in enumerate(names)]
        elif "images" in gt:
            images = [{k: img[k] for k in ("id", "file_name", "frame_id", "vid_id", "nframes", "is_labeled")
                       if k in img} for img in gt["images"]]
            keys = [int(img["id"]) for img in gt["images"]]
        else:
            raise DataError(gt_path, None, "unknown GT format: expected 'annolist' or 'images'")
        anns = []
        for img, key in zip(images, keys):
            used: set[int] = set()
            for n, p in enumerate(by_image.get(key, [])):
                track = p.track_id if p.track_id >= 0 and p.track_id not in used else n
                while track in used:
                    track += 1
                used.add(track)
                kpts = np.concatenate([p.keypoints, np.ones((kp.NUM_KEYPOINTS, 1))], 1)
                ann = {"image_id": img["id"], "track_id": int(track), "category_id": 1,
                       "keypoints": [round(float(v), 3) for v in kpts.reshape(-1)],
                       "scores": [round(float(v), 6) for v in p.scores], "score": float(p.box_score)}
                if p.box is not None:
                    ann["bbox"] = [round(float(v), 2) for v in p.box]
                anns.append(ann)
        doc = {"images": images, "annotations": anns,
               "categories": [{"supercategory": "person", "id": 1, "name": "person",
                               "keypoints": list(kp.KEYPOINT_NAMES)}]}
        path = out_dir / gt_path.name
        write_json(path, doc)
        written.append(path)
    return written


# ----------------------------------------------------------------------------------------------------------------


@main_guard
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description="PoseTrack AP (poseval semantics).")
    p.add_argument("--gt", required=True, help="directory of GT files, one per sequence")
    p.add_argument("--pred", required=True, help="directory of prediction files with the GT files' names")
    p.add_argument("--out", help="write the metrics JSON here")
    p.add_argument("--split-by", help="also report AP for frames where this boolean image field is true / false")
    p.add_argument("--backend", choices=("dsta", "poseval"), default="dsta",
                   help="'poseval' runs the official package instead (when installed)")
    a = p.parse_args(argv)
    if a.backend == "poseval":
        if a.split_by:
            raise DataError(None, "--split-by", "not available with --backend poseval")
        metrics = evaluate_poseval(a.gt, a.pred)
    else:
        metrics = evaluate(a.gt, a.pred, split_by=a.split_by)
    print(format_table(metrics))
    if a.split_by:
        for flag in ("true", "false"):
            sub = metrics["split"][flag]
            print(f"\n{a.split_by}={flag} ({sub['num_frames'] if sub else 0} frames):")
            print(format_table(sub) if sub else "no frames")
    if a.out:
        write_json(a.out, to_json(metrics), indent=2)
    return metrics


if __name__ == "__main__":
    main()
