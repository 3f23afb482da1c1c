"""A deliberately plain, loop-by-loop PoseTrack AP, written from poseval's documented behaviour, to cross-check the
vectorized evaluator on random cases (ignore regions, unlabeled frames, false positives, ties).

Tie-break: the project's one rule, written out plainly: sequence files in name order, then frames, then predicted
people as listed; per joint, a stable sort by descending score keeps that order among equal scores."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import shapely

from dsta.core import keypoints as kp


def _frames(path: Path, is_pred: bool) -> list[dict]:
    data = json.loads(path.read_text())
    names = data["categories"][0]["keypoints"]
    frames = []
    for img in data["images"]:
        people = []
        for ann in data["annotations"]:
            if ann["image_id"] != img["id"]:
                continue
            k = np.array(ann["keypoints"], float).reshape(17, 3)
            points = {}
            for src, name in enumerate(names):
                if name not in kp.POSEVAL_JOINT_NAMES:
                    continue
                x, y, v = k[src]
                if x == 0 and y == 0 and v == 0:
                    continue
                jid = kp.POSEVAL_JOINT_NAMES.index(name)
                points[jid] = {"x": x, "y": y, "score": ann["scores"][src] if is_pred else None}
            head = None
            if "bbox_head" in ann:
                b = ann["bbox_head"]
                head = (b[0], b[1], b[0] + b[2], b[1] + b[3])
            people.append({"points": points, "head": head})
        regions = []
        for xs, ys in zip(img.get("ignore_regions_x", []), img.get("ignore_regions_y", [])):
            if len(xs) >= 3:
                regions.append(shapely.Polygon(list(zip(xs, ys))))
        frames.append({"people": people, "regions": regions, "flags": img})
    return frames


def reference_ap(gt_dir: Path, pred_dir: Path, names: list[str] | None = None) -> list[float]:
    """Per-joint AP; ``names`` overrides the order of the sequence files (name order by default)."""
    all_gt, all_pr = [], []
    for name in sorted(os.listdir(gt_dir)) if names is None else names:
        g = _frames(Path(gt_dir) / name, False)
        p = _frames(Path(pred_dir) / name, True)
        for fg, fp in zip(g, p):
            if not fg["people"]:
                continue
            for frame in (fg, fp):
                for person in frame["people"]:
                    for jid in list(person["points"]):
                        pt = shapely.Point(person["points"][jid]["x"], person["points"][jid]["y"])
                        if any(r.contains(pt) for r in fg["regions"]):
                            del person["points"][jid]
            all_gt.append(fg["people"])
            all_pr.append(fp["people"])
    scores = {j: [] for j in range(15)}
    labels = {j: [] for j in range(15)}
    n_gt = np.zeros(15)
    for gts, prs in zip(all_gt, all_pr):
        for g in gts:
            for j in g["points"]:
                n_gt[j] += 1
        match = np.zeros((len(prs), len(gts), 15), bool)
        pck = np.zeros((len(prs), len(gts)))
        for a, pr in enumerate(prs):
            for b, g in enumerate(gts):
                if g["points"]:
                    x1, y1, x2, y2 = g["head"]
                    size = 0.6 * math.hypot(x2 - x1, y2 - y1)
                for j in range(15):
                    if j in pr["points"] and j in g["points"]:
                        d = (
                            math.hypot(
                                pr["points"][j]["x"] - g["points"][j]["x"], pr["points"][j]["y"] - g["points"][j]["y"]
                            )
                            / size
                        )
                        match[a, b, j] = d <= 0.5
                n = len(g["points"])
                pck[a, b] = match[a, b].sum() / n if n else match[a, b].sum()
        owner = {}
        if len(prs) and len(gts):
            for a in range(len(prs)):
                best = int(np.argmax(pck[a]))
                for b in range(len(gts)):
                    if b != best:
                        pck[a, b] = 0
            for b in range(len(gts)):
                a = int(np.argmax(pck[:, b]))
                if pck[a, b] > 0:
                    owner[a] = b
        for a, pr in enumerate(prs):
            for j, point in sorted(pr["points"].items()):
                scores[j].append(point["score"])
                labels[j].append(bool(match[a, owner[a], j]) if a in owner else False)
    aps = []
    for j in range(15):
        s, lab = np.array(scores[j]), np.array(labels[j])
        if not len(s):
            aps.append(0.0)
            continue
        order = sorted(range(len(s)), key=lambda i: -s[i])  # Python's sort is stable
        tp = np.cumsum(lab[order])
        rec = tp / n_gt[j]
        prec = tp / np.arange(1, len(tp) + 1)
        mrec = [0.0, *rec, 1.0]
        mpre = [0.0, *prec, 0.0]
        for i in range(len(mpre) - 2, -1, -1):
            mpre[i] = max(mpre[i], mpre[i + 1])
        ap = sum((mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])
        aps.append(100 * ap)
    return aps
