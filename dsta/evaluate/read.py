"""Reading a split for evaluation: each GT file with its prediction file, aligned frame by frame, after poseval's
clean-up (ears dropped, frames without GT people dropped, ignore regions applied). Files are parsed by the one
PoseTrack reader, ``dsta.data.posetrack.parse_file``."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dsta.core import keypoints as kp
from dsta.core.errors import DataError
from dsta.data.posetrack import ParsedFile, parse_file

HEAD_SIZE_FACTOR = 0.6
J15 = kp.NUM_POSEVAL_JOINTS
_TO_15 = np.array(kp.POSEVAL_TO_KEYPOINT)  # 15 poseval joints <- 17 keypoints


@dataclass
class People:
    """People of a file or split, flattened: one row per person, frame by frame, in file order inside a frame."""

    frame: np.ndarray  # (N,) frame index
    xy: np.ndarray  # (N, 15, 2)
    has: np.ndarray  # (N, 15) bool: the joint is there
    head: np.ndarray  # (N,) head size (GT) or NaN
    score: np.ndarray  # (N, 15) scores (predictions) or NaN

    def take(self, sel: np.ndarray, frame: np.ndarray | None = None) -> People:
        return People(
            self.frame[sel] if frame is None else frame, self.xy[sel], self.has[sel], self.head[sel], self.score[sel]
        )

    @staticmethod
    def concat(parts: list[People]) -> People:
        if not parts:
            z = np.zeros(0)
            return People(
                np.zeros(0, np.int64), z.reshape(0, J15, 2), z.reshape(0, J15).astype(bool), z, z.reshape(0, J15)
            )
        return People(
            *(np.concatenate([getattr(p, k) for p in parts]) for k in ("frame", "xy", "has", "head", "score"))
        )


@dataclass
class Loaded:
    """GT and predictions of a whole split, aligned frame by frame (``frame`` indexes the kept frames)."""

    gt: People
    pr: People
    flags: list[dict[str, Any]]  # per kept frame: the GT image's boolean fields
    n_frames: int
    sequence: np.ndarray | None = None  # (n_frames,) per kept frame: its GT file's index in name order


def read_file(path: str | Path, is_pred: bool) -> tuple[ParsedFile, People]:
    """One GT or prediction file in any PoseTrack format, and poseval's view of its people (rows in file order)."""
    parsed = parse_file(path, predictions=is_pred)
    keep = np.flatnonzero(parsed.has_points)  # poseval drops PoseTrack17 rects without points
    people = People(
        frame=parsed.frame[keep],
        xy=parsed.xy[keep][:, _TO_15],
        has=parsed.present[keep][:, _TO_15],
        head=HEAD_SIZE_FACTOR * parsed.head_diagonal[keep],
        score=parsed.kp_scores[keep][:, _TO_15],
    )
    if not is_pred:
        missing = np.flatnonzero(np.isnan(people.head) & people.has.any(1))
        if len(missing):
            raise DataError(
                parsed.path, parsed.head_field(int(keep[missing[0]])), "GT person with keypoints has no head box"
            )
        # a head box of zero size makes every PCKh threshold 0 (poseval divides by it: no meaning); a negative width
        # or height keeps poseval's meaning, the length of the diagonal
        flat = np.flatnonzero((people.head == 0) & people.has.any(1))
        if len(flat):
            raise DataError(
                parsed.path,
                parsed.head_field(int(keep[flat[0]])),
                "GT head box has zero size: the PCKh threshold (half of 0.6 x its diagonal) would be 0",
            )
    return parsed, people


def _remove_ignored(people: People, regions: dict[int, list[np.ndarray]]) -> None:
    """Drop the points that lie inside the frame's ignore polygons (strictly inside, as shapely's ``contains``)."""
    if not regions:
        return
    import shapely  # only where a file has ignore regions: it costs start-up time

    for frame_idx, polys in regions.items():
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


def _frame_order(people: People) -> People:
    """Rows frame by frame, in file order inside a frame (a PoseTrack18 file may interleave frames)."""
    if (np.diff(people.frame) >= 0).all():
        return people
    return people.take(np.argsort(people.frame, kind="stable"))


def load(gt_dir: str | Path, pred_dir: str | Path) -> Loaded:
    """Read and align every GT file of ``gt_dir`` (in name order) with its prediction file in ``pred_dir``."""
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    if not gt_dir.is_dir():
        raise DataError(gt_dir, None, "GT directory not found")
    if not pred_dir.is_dir():
        raise DataError(pred_dir, None, "prediction directory not found")
    # name order, not directory-listing order: the order decides how equal scores of different sequences tie
    names = sorted(n for n in os.listdir(gt_dir) if n.endswith(".json"))
    if not names:
        raise DataError(gt_dir, None, "no *.json GT files")
    folder = next((n for n in names if not (gt_dir / n).is_file()), None)
    if folder is not None:
        raise DataError(gt_dir / folder, None, "a directory, not a GT file")
    # poseval reads the GT files and ignores other prediction files; so do we, but say so (a misnamed file is often
    # the prediction of a GT sequence that is then reported missing)
    stray = sorted(set(n for n in os.listdir(pred_dir) if n.endswith(".json")) - set(names))
    if stray:
        print(
            f"{pred_dir}: {len(stray)} prediction file(s) without a GT sequence, ignored as poseval ignores them: "
            f"{', '.join(stray[:3])}{' ...' if len(stray) > 3 else ''}",
            file=sys.stderr,
        )
    gts: list[People] = []
    prs: list[People] = []
    flags: list[dict[str, Any]] = []
    sequence: list[np.ndarray] = []
    offset = 0
    for file_index, name in enumerate(names):
        pred_path = pred_dir / name
        if pred_path.is_dir():
            raise DataError(pred_path, None, "a directory, not a prediction file")
        if not pred_path.is_file():
            raise DataError(pred_path, None, f"prediction file missing for GT sequence {Path(name).stem}")
        g_file, g = read_file(gt_dir / name, is_pred=False)
        p_file, p = read_file(pred_path, is_pred=True)
        if len(p_file.image_keys) != len(g_file.image_keys):
            raise DataError(
                pred_path, "images", f"{len(p_file.image_keys)} frames, but GT {name} has {len(g_file.image_keys)}"
            )
        if p_file.image_keys != g_file.image_keys:
            i = next(i for i, (a, b) in enumerate(zip(g_file.image_keys, p_file.image_keys)) if a != b)
            field = f"annolist[{i}].image" if p_file.format == "posetrack17" else f"images[{i}].id"
            raise DataError(pred_path, field, f"{p_file.image_keys[i]!r} where GT {name} has {g_file.image_keys[i]!r}")
        _remove_ignored(g, g_file.regions)
        _remove_ignored(p, g_file.regions)
        # poseval drops frames whose GT lists nobody, and their predictions with them
        keep = np.bincount(g_file.frame, minlength=len(g_file.image_keys)) > 0
        new_index = np.cumsum(keep) - 1 + offset
        for src, parts in ((g, gts), (p, prs)):
            sel = keep[src.frame]
            parts.append(_frame_order(src.take(sel, new_index[src.frame[sel]])))
        flags += [fl for fl, k in zip(g_file.flags, keep) if k]
        sequence.append(np.full(int(keep.sum()), file_index, dtype=np.int64))
        offset += int(keep.sum())
    return Loaded(
        gt=People.concat(gts), pr=People.concat(prs), flags=flags, n_frames=offset, sequence=np.concatenate(sequence)
    )


def split_frames(data: Loaded, field: str) -> dict[str, np.ndarray]:
    """The frames whose GT image has the boolean ``field`` true (``"true"``) and false or missing (``"false"``), in
    frame order: the split of ``evaluate(..., split_by=field)`` and of the claims' intervals on those frames."""
    values = np.array([bool(fl.get(field)) for fl in data.flags], dtype=bool)
    return {"true": np.flatnonzero(values), "false": np.flatnonzero(~values)}


def subset(data: Loaded, frames: np.ndarray) -> Loaded:
    """The same split restricted to ``frames`` (renumbered in that order)."""
    new = np.full(data.n_frames, -1)
    new[frames] = np.arange(len(frames))

    def take(people: People) -> People:
        sel = new[people.frame] >= 0
        return _frame_order(people.take(sel, new[people.frame[sel]]))

    return Loaded(
        take(data.gt),
        take(data.pr),
        [data.flags[i] for i in frames],
        len(frames),
        None if data.sequence is None else data.sequence[frames],
    )
