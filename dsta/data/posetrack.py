"""Readers for the three PoseTrack releases, into one in-memory representation.

* PoseTrack17: one ``annolist`` JSON per sequence. Each entry has ``image[0].name``, ``annorect`` (people, with the
  head rectangle ``x1/y1/x2/y2``, ``track_id`` and ``annopoints[0].point`` of ``id/x/y/is_visible``, ids in
  poseval's 15-joint order), ``is_labeled`` and ``ignore_regions``.
* PoseTrack18: one COCO-style JSON per sequence: ``images`` (``id``, ``file_name``, ``frame_id``, ``vid_id``,
  ``is_labeled``, ``ignore_regions_x/y``) and ``annotations`` (17x3 ``keypoints``, ``bbox``, ``bbox_head``,
  ``track_id``).
* PoseTrack21: ``posetrack_data/{train,val}/*.json``, COCO-style like PoseTrack18, with ``person_id`` as well.

All three load into ``Sequence -> Frame -> Person``. Keypoints are always in the 17-keypoint order of
``dsta.core.keypoints``; coordinates are image pixels. Person boxes are ``x, y, w, h``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dsta.core import keypoints as kp
from dsta.core.errors import DataError
from dsta.core.io import load_json

FORMATS = ("posetrack17", "posetrack18", "posetrack21")


@dataclass
class Person:
    """One annotated (or detected) person in one frame."""

    keypoints: np.ndarray  # (17, 2) float64, image pixels; 0 where not annotated
    visible: np.ndarray  # (17,) float32, 1 where the keypoint is annotated
    track_id: int
    box: np.ndarray | None = None  # (4,) x, y, w, h (PoseTrack17: around the keypoints, see boxes_from_keypoints)
    head_box: np.ndarray | None = None  # (4,) x, y, w, h
    score: float = 1.0
    person_id: int | None = None

    @property
    def num_keypoints(self) -> int:
        return int((self.visible > 0).sum())


@dataclass
class Frame:
    """One frame of a sequence; ``persons`` is empty where the frame is not labeled."""

    image_id: int
    file_name: str
    index: int  # position inside the sequence, 0-based
    is_labeled: bool
    persons: list[Person] = field(default_factory=list)
    ignore_regions: list[np.ndarray] = field(default_factory=list)  # each (N, 2) polygon, image pixels
    width: int | None = None
    height: int | None = None
    flags: dict[str, Any] = field(default_factory=dict)  # extra image fields, e.g. the synthetic ``corrupted``


@dataclass
class Sequence:
    """A video: its frames in temporal order."""

    name: str
    frames: list[Frame]
    source: str  # the annotation file it came from
    format: str  # one of FORMATS

    @property
    def labeled_frames(self) -> list[Frame]:
        return [f for f in self.frames if f.is_labeled]


# ----------------------------------------------------------------------------------------------------------------
# helpers that validate one value and name the field when it is wrong


def _number(path: Path, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(path, where, f"expected a number, got {value!r}")
    if not math.isfinite(value):
        raise DataError(path, where, f"not a finite number ({value})")
    return float(value)


def detect_format(data: Any, path: str | Path) -> str:
    """Tell PoseTrack17 (``annolist``) from PoseTrack18/21 (COCO-style); anything else is a DataError."""
    path = Path(path)
    if isinstance(data, dict) and "annolist" in data:
        return "posetrack17"
    if isinstance(data, dict) and "images" in data and "annotations" in data:
        anns = data["annotations"]
        if isinstance(anns, list) and anns and isinstance(anns[0], dict) and "person_id" in anns[0]:
            return "posetrack21"
        return "posetrack18"
    keys = sorted(data)[:8] if isinstance(data, dict) else type(data).__name__
    raise DataError(
        path,
        None,
        f"unknown format: expected 'annolist' (PoseTrack17) or 'images'+'annotations' (PoseTrack18/21), found {keys}",
    )


def _ignore_regions(path: Path, where: str, xs: Any, ys: Any) -> list[np.ndarray]:
    if xs is None and ys is None:
        return []
    if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
        raise DataError(path, where, "ignore_regions_x and ignore_regions_y must be lists of equal length")
    regions = []
    for r, (rx, ry) in enumerate(zip(xs, ys)):
        if not isinstance(rx, list) or not isinstance(ry, list) or len(rx) != len(ry):
            raise DataError(path, f"{where}[{r}]", "x and y lists of a region must have equal length")
        regions.append(numbers(path, f"{where}[{r}]" + "[{}]", [[a, b] for a, b in zip(rx, ry)], 2))
    return regions


# ----------------------------------------------------------------------------------------------------------------
# Parsing: one pass per file into arrays, validated with numpy. The dataset reader below and the evaluator
# (``dsta.evaluate``) both build on ``parse_file``; neither walks the JSON on its own.


@dataclass
class ParsedFile:
    """One PoseTrack17/18/21 annotation or prediction file: frames in file order, people as arrays (one row per
    person, in file order). Keypoints are in the 17-keypoint order of ``dsta.core.keypoints``, image pixels."""

    path: Path
    format: str  # one of FORMATS
    image_keys: list  # per frame: the image id (PoseTrack18/21; a name in predictions for PoseTrack17 GT) or image
    # name (PoseTrack17), by which poseval pairs frames
    file_names: list  # per frame: str, or None where the file gives none
    is_labeled: np.ndarray  # (F,) bool
    widths: list  # per frame: int or None
    heights: list
    flags: list[dict]  # per frame: the boolean image fields and the synthetic ``corruption`` kinds
    regions: dict[int, list[np.ndarray]]  # frame -> ignore polygons, each (K, 2)
    frame: np.ndarray  # (N,) frame index of each person
    xy: np.ndarray  # (N, 17, 2)
    present: np.ndarray  # (N, 17) bool: the keypoint is there (PoseTrack18 stores an absent one as (0, 0, 0))
    box: np.ndarray  # (N, 4) x, y, w, h as the file gives it; NaN where none (always for PoseTrack17)
    head_box: np.ndarray  # (N, 4) x, y, w, h; NaN where none
    head_diagonal: np.ndarray  # (N,) the head box diagonal with poseval's arithmetic per format; NaN where none
    track_id: np.ndarray  # (N,) int64 (the person's position where the file gives none)
    score: np.ndarray  # (N,) person score, 1 where none
    kp_scores: np.ndarray  # (N, 17) per-keypoint scores (predictions); NaN where none
    has_points: (
        np.ndarray
    )  # (N,) bool: PoseTrack17 rects without ``annopoints[0].point`` are False (poseval drops them)
    person_ids: list  # (N,) PoseTrack21 ``person_id`` or None
    person_fields: list[str] | None = None  # PoseTrack17: each person's place in the file (PoseTrack18: computed)

    @property
    def num_people(self) -> int:
        return len(self.frame)

    def person_field(self, n: int) -> str:
        """Where person ``n`` sits in the file, for error messages."""
        return self.person_fields[n] if self.person_fields is not None else f"annotations[{n}]"

    def head_field(self, n: int) -> str:
        return f"{self.person_field(n)}.x1" if self.format == "posetrack17" else f"{self.person_field(n)}.bbox_head"


def _bad_value(path: Path, field: str, rows: list, width: int, index: list[int] | None) -> DataError:
    """The DataError for the first value of ``rows`` that is not a number (or the first row of the wrong length)."""
    for r, row in enumerate(rows):
        name = field.format(index[r] if index is not None else r)
        if not isinstance(row, (list, tuple)) or len(row) != width:
            return DataError(path, name, f"expected {width} numbers, got {row!r}")
        for c, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return DataError(path, f"{name}[{c}]", f"expected a number, got {v!r}")
    return DataError(path, field.format("?"), "expected numbers")


def numbers(path: Path, field: str, rows: list, width: int, index: list[int] | None = None) -> np.ndarray:
    """Stack ``rows`` (each a list of ``width`` numbers) into an ``(n, width)`` float64 array, checked all at once.

    The first value that is not a finite number is named by its field: ``field`` is a format string such as
    ``"annotations[{}].keypoints"`` filled with the row's index (``index[r]`` where given), e.g.
    ``annotations[3].keypoints[7]``. A number written as a string (``"12.5"``) or a boolean is refused too: poseval
    has no meaning for it (its arithmetic on such a value fails), so it is a mistake in the file, not a number.
    """
    if not rows:
        return np.zeros((0, width))
    try:
        # one C-level conversion that keeps the values' types: numbers give a numeric array; a string, booleans only,
        # None or a ragged row give another dtype (or raise), and _bad_value names the first
        arr = np.array(rows)
    except (TypeError, ValueError):
        raise _bad_value(path, field, rows, width, index) from None
    if arr.dtype.kind not in "iuf":
        raise _bad_value(path, field, rows, width, index)
    arr = arr.astype(np.float64, copy=False)
    if arr.shape != (len(rows), width):
        raise _bad_value(path, field, rows, width, index)
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        name = f"{field.format(index[r] if index is not None else r)}[{c}]"
        if rows[r][c] is None:
            raise DataError(path, name, "expected a number, got None")
        raise DataError(path, name, f"not a finite number ({arr[r, c]})")
    return arr


def _optional_rows(path: Path, anns: list[dict], key: str, width: int) -> np.ndarray:
    """The ``key`` field of every annotation, as ``(n, width)`` floats, NaN rows where it is absent."""
    values = [a.get(key) for a in anns]
    idx = [j for j, v in enumerate(values) if v is not None]
    out = np.full((len(anns), width), np.nan)
    if idx:
        out[idx] = numbers(path, f"annotations[{{}}].{key}", [values[j] for j in idx], width, idx)
    return out


def _category_order(path: Path, data: dict) -> np.ndarray | None:
    """Our keypoint order <- the file's, from ``categories[0].keypoints`` (None: the file uses ours)."""
    cats = data.get("categories")
    if not cats or not isinstance(cats, list):
        return None
    names = cats[0].get("keypoints") if isinstance(cats[0], dict) else None
    if names is None:
        return None
    if not isinstance(names, list) or len(names) != kp.NUM_KEYPOINTS or set(names) != set(kp.KEYPOINT_NAMES):
        raise DataError(path, "categories[0].keypoints", f"expected the 17 PoseTrack keypoint names, got {names!r}")
    order = np.array([names.index(n) for n in kp.KEYPOINT_NAMES])
    return None if (order == np.arange(kp.NUM_KEYPOINTS)).all() else order


def _integers(path: Path, field: str, values: list, index: list[int]) -> np.ndarray:
    arr = np.array([values[j] for j in index]) if index else np.zeros(0, dtype=np.int64)
    if arr.dtype.kind != "i" or arr.ndim != 1:
        for j in index:
            v = values[j]
            if isinstance(v, bool) or not isinstance(v, int):
                raise DataError(path, field.format(j), f"expected an integer, got {v!r}")
    return arr.astype(np.int64)


def _read_images(path: Path, images: list) -> tuple[dict, list, list, list, list, list, dict]:
    """The ``images`` of a PoseTrack18-format file, checked: frame index by image id, file names, labeled flags,
    sizes, the boolean fields (and the synthetic set's ``corruption``) and the ignore regions by frame."""
    frame_of: dict[int, int] = {}
    file_names, labeled, widths, heights, flags, regions = [], [], [], [], [], {}
    for i, img in enumerate(images):
        where = f"images[{i}]"
        if not isinstance(img, dict):
            raise DataError(path, where, "expected an object")
        image_id = img.get("id")
        if image_id is None:
            raise DataError(path, f"{where}.id", "missing")
        if type(image_id) not in (int, str):  # a prediction file for PoseTrack17 GT names its images
            raise DataError(path, f"{where}.id", f"expected an integer, got {image_id!r}")
        if image_id in frame_of:
            raise DataError(path, f"{where}.id", f"duplicate image id {image_id}")
        frame_of[image_id] = i
        name = img.get("file_name")
        file_names.append(None if name is None else str(name))
        labeled.append(bool(img.get("is_labeled", True)))
        widths.append(img.get("width"))
        heights.append(img.get("height"))
        # the boolean image fields (the synthetic set's ``corrupted``) and the synthetic set's ``corruption`` kinds
        flags.append(
            {k: v for k, v in img.items() if v is True or v is False or (k == "corruption" and isinstance(v, str))}
        )
        if img.get("ignore_regions_x") is not None or img.get("ignore_regions_y") is not None:
            polys = _ignore_regions(
                path, f"{where}.ignore_regions", img.get("ignore_regions_x"), img.get("ignore_regions_y")
            )
            if polys:
                regions[i] = polys
    return frame_of, file_names, labeled, widths, heights, flags, regions


def _parse_posetrack18(path: Path, data: dict, fmt: str, predictions: bool) -> ParsedFile:
    images, anns = data.get("images"), data.get("annotations")
    if not isinstance(images, list):
        raise DataError(path, "images", "expected a list")
    if not isinstance(anns, list):
        raise DataError(path, "annotations", "expected a list")
    if not images:
        raise DataError(path, "images", "empty sequence: no images")
    order = _category_order(path, data)

    frame_of, file_names, labeled, widths, heights, flags, regions = _read_images(path, images)

    n = len(anns)
    for j, ann in enumerate(anns):
        if type(ann) is not dict:
            raise DataError(path, f"annotations[{j}]", "expected an object")
    image_ids = [a.get("image_id") for a in anns]
    try:
        frame = np.array([frame_of.get(v, -1) if type(v) in (int, str) else -1 for v in image_ids], dtype=np.int64)
    except TypeError:
        frame = np.full(n, -1)
    if (frame < 0).any():
        j = int(np.flatnonzero(frame < 0)[0])
        raise DataError(path, f"annotations[{j}].image_id", f"refers to no image in this file ({image_ids[j]!r})")

    kps = [a.get("keypoints") for a in anns]
    lengths = np.array([len(v) if type(v) is list else -1 for v in kps], dtype=np.int64)
    if (lengths != 3 * kp.NUM_KEYPOINTS).any():
        j = int(np.flatnonzero(lengths != 3 * kp.NUM_KEYPOINTS)[0])
        got = "missing" if kps[j] is None else (len(kps[j]) if isinstance(kps[j], list) else repr(kps[j]))
        raise DataError(path, f"annotations[{j}].keypoints", f"expected 17x3=51 values, got {got}")
    k = numbers(path, "annotations[{}].keypoints", kps, 3 * kp.NUM_KEYPOINTS).reshape(n, kp.NUM_KEYPOINTS, 3)
    if order is not None:
        k = k[:, order]
    # a point stored as (0, 0, 0) is absent; any other point is there (poseval's PoseTrack18 reading)
    present = ~((k[..., 0] == 0) & (k[..., 1] == 0) & (k[..., 2] == 0))

    box = _optional_rows(path, anns, "bbox", 4)
    head = _optional_rows(path, anns, "bbox_head", 4)
    # poseval turns [x, y, w, h] into x1, x2 = x, x + w and measures x2 - x1: the same arithmetic, to the last bit
    head_diagonal = np.hypot((head[:, 0] + head[:, 2]) - head[:, 0], (head[:, 1] + head[:, 3]) - head[:, 1])

    tracks = [a.get("track_id") for a in anns]
    with_track = [j for j, t in enumerate(tracks) if t is not None]
    track_id = np.arange(n, dtype=np.int64)
    track_id[with_track] = _integers(path, "annotations[{}].track_id", tracks, with_track)
    score = np.ones(n)
    scored = [j for j, a in enumerate(anns) if a.get("score") is not None]
    if scored:
        score[scored] = numbers(path, "annotations[{}].score", [[anns[j]["score"]] for j in scored], 1, scored)[:, 0]

    kp_scores = np.full((n, kp.NUM_KEYPOINTS), np.nan)
    if predictions:
        values = [a.get("scores") for a in anns]
        bad = [j for j, v in enumerate(values) if type(v) is not list or len(v) != kp.NUM_KEYPOINTS]
        if bad:
            v = values[bad[0]]
            raise DataError(
                path,
                f"annotations[{bad[0]}].scores",
                f"predictions need 17 per-keypoint scores, got {len(v) if isinstance(v, list) else v!r}",
            )
        kp_scores = numbers(path, "annotations[{}].scores", values, kp.NUM_KEYPOINTS)
        if order is not None:
            kp_scores = kp_scores[:, order]
        _check_unique_tracks(
            path, frame, track_id, with_track, lambda j: f"annotations[{j}].track_id", lambda i: images[i]["id"]
        )
    return ParsedFile(
        path=path,
        format=fmt,
        image_keys=list(frame_of),
        file_names=file_names,
        is_labeled=np.array(labeled, dtype=bool),
        widths=widths,
        heights=heights,
        flags=flags,
        regions=regions,
        frame=frame,
        xy=k[..., :2],
        present=present,
        box=box,
        head_box=head,
        head_diagonal=head_diagonal,
        track_id=track_id,
        score=score,
        kp_scores=kp_scores,
        has_points=np.ones(n, dtype=bool),
        person_ids=[a.get("person_id") for a in anns],
    )


def _check_unique_tracks(
    path: Path, frame: np.ndarray, track_id: np.ndarray, with_track: list[int], field, image
) -> None:
    """Predictions: a track id appears at most once per frame."""
    if not with_track:
        return
    idx = np.array(with_track)
    order = idx[np.lexsort((idx, track_id[idx], frame[idx]))]
    dup = (np.diff(frame[order]) == 0) & (np.diff(track_id[order]) == 0)
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        first, again = int(order[k]), int(order[k + 1])
        raise DataError(
            path,
            field(again),
            f"duplicate track id {track_id[again]} in image {image(frame[again])} (also {field(first)})",
        )


def _first(path: Path, where: str, value: Any) -> Any:
    """PoseTrack17 wraps every scalar in a one-element list."""
    if isinstance(value, list):
        if len(value) != 1:
            raise DataError(path, where, f"expected a one-element list, got {value!r}")
        return value[0]
    return value


def _parse_posetrack17(path: Path, data: dict, predictions: bool) -> ParsedFile:
    annolist = data.get("annolist")
    if not isinstance(annolist, list):
        raise DataError(path, "annolist", "expected a list")
    if not annolist:
        raise DataError(path, "annolist", "empty sequence: no images")
    names, labeled, regions = [], [], {}
    rows: dict[str, list] = {
        k: [] for k in ("frame", "xy", "present", "head", "diag", "track", "score", "kp_scores", "has_points", "where")
    }
    for i, entry in enumerate(annolist):
        where = f"annolist[{i}]"
        if not isinstance(entry, dict):
            raise DataError(path, where, "expected an object")
        try:
            names.append(str(_first(path, f"{where}.image", entry["image"])["name"]))
        except (KeyError, TypeError):
            raise DataError(path, f"{where}.image", "expected [{'name': ...}]") from None
        labeled.append(bool(_first(path, f"{where}.is_labeled", entry.get("is_labeled", [1]))))
        polys = []
        for r, region in enumerate(entry.get("ignore_regions", []) or []):
            pts = region.get("point", []) if isinstance(region, dict) else None
            if not isinstance(pts, list):
                raise DataError(path, f"{where}.ignore_regions[{r}].point", "expected a list of points")
            rw = f"{where}.ignore_regions[{r}].point"
            polys.append(
                numbers(
                    path,
                    rw + "[{}]",
                    [
                        [_first(path, rw, p.get("x")), _first(path, rw, p.get("y"))] if isinstance(p, dict) else p
                        for p in pts
                    ],
                    2,
                )
            )
        if polys:
            regions[i] = polys
        tracks: dict[Any, int] = {}
        for r, rect in enumerate(entry.get("annorect", []) or []):
            rw = f"{where}.annorect[{r}]"
            if not isinstance(rect, dict):
                raise DataError(path, rw, "expected an object")
            xy, present = np.zeros((kp.NUM_KEYPOINTS, 2)), np.zeros(kp.NUM_KEYPOINTS, dtype=bool)
            scores = np.full(kp.NUM_KEYPOINTS, np.nan)
            annopoints = rect.get("annopoints") or []
            listed = bool(annopoints) and isinstance(annopoints[0], dict) and "point" in annopoints[0]
            for q, point in enumerate((annopoints[0].get("point") if listed else None) or []):
                pw = f"{rw}.annopoints[0].point[{q}]"
                pid = _first(path, f"{pw}.id", point.get("id"))
                if (
                    isinstance(pid, bool)
                    or not isinstance(pid, (int, float))
                    or pid not in kp.POSETRACK17_ID_TO_KEYPOINT
                ):
                    raise DataError(path, f"{pw}.id", f"joint id {pid!r} is not one of the 15 PoseTrack17 ids 0..14")
                j = kp.POSETRACK17_ID_TO_KEYPOINT[int(pid)]
                xy[j] = (
                    _number(path, f"{pw}.x", _first(path, f"{pw}.x", point.get("x"))),
                    _number(path, f"{pw}.y", _first(path, f"{pw}.y", point.get("y"))),
                )
                present[j] = True
                if predictions:
                    if point.get("score") is None:
                        raise DataError(path, f"{pw}.score", "predictions need a score per point")
                    scores[j] = _number(path, f"{pw}.score", _first(path, f"{pw}.score", point["score"]))
            head, diag = np.full(4, np.nan), np.nan
            if all(c in rect for c in ("x1", "y1", "x2", "y2")):
                x1, y1, x2, y2 = (
                    _number(path, f"{rw}.{c}", _first(path, f"{rw}.{c}", rect[c])) for c in ("x1", "y1", "x2", "y2")
                )
                head, diag = np.array([x1, y1, x2 - x1, y2 - y1]), math.hypot(x2 - x1, y2 - y1)
            track = _first(path, f"{rw}.track_id", rect.get("track_id", [r]))
            if isinstance(track, bool) or not isinstance(track, int):
                raise DataError(path, f"{rw}.track_id", f"expected an integer, got {track!r}")
            if predictions and "track_id" in rect:
                if track in tracks:
                    raise DataError(
                        path,
                        f"{rw}.track_id",
                        f"duplicate track id {track} in this frame (also annorect[{tracks[track]}])",
                    )
                tracks[track] = r
            score = _number(path, f"{rw}.score", _first(path, f"{rw}.score", rect.get("score", [1.0])))
            for key, value in (
                ("frame", i),
                ("xy", xy),
                ("present", present),
                ("head", head),
                ("diag", diag),
                ("track", track),
                ("score", score),
                ("kp_scores", scores),
                ("has_points", listed),
                ("where", rw),
            ):
                rows[key].append(value)
    n = len(rows["frame"])
    xy = np.array(rows["xy"]).reshape(n, kp.NUM_KEYPOINTS, 2)
    present = np.array(rows["present"], dtype=bool).reshape(n, kp.NUM_KEYPOINTS)
    return ParsedFile(
        path=path,
        format="posetrack17",
        image_keys=names,
        file_names=names,
        is_labeled=np.array(labeled, bool),
        widths=[None] * len(names),
        heights=[None] * len(names),
        flags=[{} for _ in names],
        regions=regions,
        frame=np.array(rows["frame"], dtype=np.int64),
        xy=xy,
        present=present,
        box=np.full((n, 4), np.nan),
        head_box=np.array(rows["head"]).reshape(n, 4),
        head_diagonal=np.array(rows["diag"], dtype=np.float64),
        track_id=np.array(rows["track"], dtype=np.int64),
        score=np.array(rows["score"], dtype=np.float64),
        kp_scores=np.array(rows["kp_scores"]).reshape(n, kp.NUM_KEYPOINTS),
        has_points=np.array(rows["has_points"], dtype=bool),
        person_ids=[None] * n,
        person_fields=rows["where"],
    )


def parse_file(path: str | Path, data: Any = None, predictions: bool = False) -> ParsedFile:
    """Parse and validate one per-sequence file of any PoseTrack release (told apart by its content).

    Args:
        path: the file (read unless ``data`` is given; always used in error messages).
        data: its already-loaded JSON.
        predictions: it is a prediction file: per-keypoint scores are required and track ids must be unique per
            frame.
    """
    path = Path(path)
    data = load_json(path) if data is None else data
    fmt = detect_format(data, path)
    if fmt == "posetrack17":
        return _parse_posetrack17(path, data, predictions)
    return _parse_posetrack18(path, data, fmt, predictions)


# ----------------------------------------------------------------------------------------------------------------
# the dataset's view: Sequence -> Frame -> Person


def _check_boxes(parsed: ParsedFile) -> None:
    """A person box must have a positive size and overlap the image (real PoseTrack boxes may spill over the border);
    boxes of people without keypoints are not used and not checked."""
    box = parsed.box
    used = ~np.isnan(box[:, 0]) & parsed.present.any(1)
    x, y, w, h = box.T
    bad = used & ((w <= 0) | (h <= 0))
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise DataError(parsed.path, f"annotations[{j}].bbox", f"box has non-positive size (w={w[j]:g}, h={h[j]:g})")
    size = np.array(
        [[np.nan if v is None else v for v in parsed.widths], [np.nan if v is None else v for v in parsed.heights]],
        dtype=np.float64,
    )[:, parsed.frame]
    with np.errstate(invalid="ignore"):
        out = used & ~np.isnan(size).any(0) & ((x >= size[0]) | (y >= size[1]) | (x + w <= 0) | (y + h <= 0))
    if out.any():
        j = int(np.flatnonzero(out)[0])
        raise DataError(
            parsed.path,
            f"annotations[{j}].bbox",
            f"box {box[j].tolist()} lies outside the {int(size[0, j])}x{int(size[1, j])} image",
        )


def to_sequence(parsed: ParsedFile) -> Sequence:
    """The dataset's view of a parsed file."""
    path = parsed.path
    if parsed.format == "posetrack17":
        image_ids = [posetrack17_image_id(name, i) for i, name in enumerate(parsed.image_keys)]
        if len(set(image_ids)) != len(image_ids):
            seen: set[int] = set()
            for i, image_id in enumerate(image_ids):
                if image_id in seen:
                    raise DataError(path, f"annolist[{i}].image", f"duplicate image {parsed.image_keys[i]}")
                seen.add(image_id)
    else:
        image_ids = parsed.image_keys
        named = [i for i, v in enumerate(image_ids) if type(v) is not int]
        if named:
            raise DataError(path, f"images[{named[0]}].id", f"expected an integer, got {image_ids[named[0]]!r}")
        if None in parsed.file_names:
            raise DataError(path, f"images[{parsed.file_names.index(None)}].file_name", "missing")
        _check_boxes(parsed)
    frames = [
        Frame(
            image_id=image_id,
            file_name=parsed.file_names[i],
            index=i,
            is_labeled=bool(parsed.is_labeled[i]),
            ignore_regions=parsed.regions.get(i, []),
            width=parsed.widths[i],
            height=parsed.heights[i],
            flags={k: v for k, v in parsed.flags[i].items() if k not in ("is_labeled", "has_no_densepose")},
        )
        for i, image_id in enumerate(image_ids)
    ]
    # PoseTrack17 people carry no box: one around their keypoints
    box = boxes_from_keypoints(parsed.xy, parsed.present) if parsed.format == "posetrack17" else parsed.box
    # rows as lists of views first (one C loop each): building 100k people is then one cheap Python loop
    boxes, heads = (
        [r if there else None for r, there in zip(list(b), (~np.isnan(b[:, 0])).tolist())]
        for b in (box, parsed.head_box)
    )  # NaN row -> None
    persons = [frames[f].persons for f in parsed.frame.tolist()]
    for dest, xy, vis, track, b, head, score, pid in zip(
        persons,
        list(parsed.xy),
        list(parsed.present.astype(np.float32)),
        parsed.track_id.tolist(),
        boxes,
        heads,
        parsed.score.tolist(),
        parsed.person_ids,
    ):
        dest.append(Person(keypoints=xy, visible=vis, track_id=track, box=b, head_box=head, score=score, person_id=pid))
    return Sequence(name=_sequence_name(path, frames), frames=frames, source=str(path), format=parsed.format)


def read_posetrack18(path: str | Path, data: dict | None = None, fmt: str = "posetrack18") -> Sequence:
    """Read one PoseTrack18 (or PoseTrack21) per-sequence annotation file."""
    path = Path(path)
    data = load_json(path) if data is None else data
    if not isinstance(data, dict):
        raise DataError(path, None, "expected a JSON object with 'images' and 'annotations'")
    return to_sequence(_parse_posetrack18(path, data, fmt, predictions=False))


def read_posetrack21(path: str | Path, data: dict | None = None) -> Sequence:
    """Read one PoseTrack21 ``posetrack_data`` file (COCO-style like PoseTrack18, plus ``person_id``)."""
    return read_posetrack18(path, data, fmt="posetrack21")


def read_posetrack17(path: str | Path, data: dict | None = None) -> Sequence:
    """Read one PoseTrack17 ``annolist`` file."""
    path = Path(path)
    data = load_json(path) if data is None else data
    if not isinstance(data, dict):
        raise DataError(path, None, "expected a JSON object with 'annolist'")
    return to_sequence(_parse_posetrack17(path, data, predictions=False))


def _sequence_name(path: Path, frames: list[Frame]) -> str:
    parent = Path(frames[0].file_name).parent.name
    return parent or path.stem


def posetrack17_image_id(name: str, index: int) -> int:
    """The PoseTrack18 image id ``TSSSSSSFFFF`` when the path follows ``.../NNNNNN_type_split/FFFFFF.jpg``."""
    parts = Path(name)
    tok = parts.parent.name.split("_")
    types = {"mpii": 1, "bonn": 2, "mpiinew": 3}
    try:
        frame = int(parts.stem.split("_")[0])
        return types[tok[1]] * 10_000_000_000 + int(tok[0]) * 10_000 + frame
    except (IndexError, KeyError, ValueError):
        return index


def boxes_from_keypoints(xy: np.ndarray, vis: np.ndarray, margin: float = 0.65) -> np.ndarray:
    """Person boxes around the annotated keypoints, ``(n, 17, 2), (n, 17) -> (n, 4)``: the keypoint extent scaled by
    ``2 * margin`` about its centre, at least 1 pixel (poseval's convention for PoseTrack17 people, which carry no
    box); NaN rows for people without keypoints."""
    there = (vis > 0)[..., None]
    with np.errstate(invalid="ignore"):
        lo = np.where(there, xy, np.inf).min(1)
        hi = np.where(there, xy, -np.inf).max(1)
        centre, extent = (lo + hi) / 2, np.maximum((hi - lo) * 2 * margin, 1.0)
    out = np.concatenate([centre - extent / 2, extent], axis=1)
    out[~there[..., 0].any(1)] = np.nan
    return out


def box_from_keypoints(xy: np.ndarray, vis: np.ndarray, margin: float = 0.65) -> np.ndarray | None:
    """``boxes_from_keypoints`` for one person, ``(17, 2), (17,) -> (4,)``; None without keypoints."""
    box = boxes_from_keypoints(xy[None], vis[None], margin)[0]
    return None if np.isnan(box[0]) else box


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """A person box ``x, y, w, h`` clipped to a ``width`` x ``height`` image as the releases clip their training boxes
    (zgspose/DSTA and DCPose ``datasets/zoo/posetrack/PoseTrack.py::_load_coco_keypoints_annotations``):
    ``x1 = max(0, x)``, ``y1 = max(0, y)``, ``x2 = min(W - 1, x1 + max(0, w - 1))``, ``y2 = min(H - 1, y1 + max(0,
    h - 1))``, giving ``x1, y1, x2 - x1, y2 - y1``. The far corner is measured from the clipped near one, so a box
    that starts left of (above) the image keeps its width (height) instead of losing the part outside, and the size
    is one pixel less than the file's. None where nothing is left (``x2 < x1`` or ``y2 < y1``): the release drops
    that person."""
    x, y, w, h = (float(v) for v in box)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = min(width - 1.0, x1 + max(0.0, w - 1)), min(height - 1.0, y1 + max(0.0, h - 1))
    if x2 < x1 or y2 < y1:
        return None
    return np.array([x1, y1, x2 - x1, y2 - y1])


# ----------------------------------------------------------------------------------------------------------------
# files and directories


def read_sequence(path: str | Path) -> Sequence:
    """Read one per-sequence annotation file of any PoseTrack release (detected from its content)."""
    return to_sequence(parse_file(path))


def annotation_files(ann_dir: str | Path) -> list[Path]:
    """The per-sequence JSON files of a split directory, sorted by name."""
    ann_dir = Path(ann_dir)
    if not ann_dir.is_dir():
        raise DataError(ann_dir, None, "annotation directory not found")
    files = sorted(ann_dir.glob("*.json"))
    if not files:
        raise DataError(ann_dir, None, "no *.json annotation files")
    return files


def read_split(ann_dir: str | Path) -> list[Sequence]:
    """Read every sequence of a split directory (PoseTrack17 ``jsons/val``, PoseTrack18 ``annotations/val``,
    PoseTrack21 ``posetrack_data/val``)."""
    return [read_sequence(f) for f in annotation_files(ann_dir)]


@dataclass
class Detection:
    box: np.ndarray  # x, y, w, h
    score: float


def image_key(name: str) -> str:
    """How detections are joined to frames by name: the last two path components, ``<sequence>/<frame>.jpg``
    (unique within a split, and the same whether the path starts at ``images/``, ``images_renamed/`` or the
    prepared folder)."""
    return "/".join(Path(str(name).replace("\\", "/")).parts[-2:])


def read_detections(path: str | Path, score_threshold: float = 0.0) -> dict[int | str, list[Detection]]:
    """Person boxes, kept when ``score >= score_threshold`` and ``category_id`` (when given) is 1, in either format:

    * DCPose's precomputed boxes (``DcPose_supp_files/posetrack1{7,8}_precomputed_boxes/val_boxes.json``, read by
      DCPose's ``datasets/zoo/posetrack/PoseTrack.py::_load_detection_results``): ``[{image_name, bbox (x, y, w, h),
      score, category_id, nframes, frame_id}, ...]``, keyed by ``image_key(image_name)`` (a str);
    * COCO results: ``[{image_id, category_id, bbox, score}, ...]``, keyed by the image id (an int).

    ``join_detections`` pairs them with a split's frames."""
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, list):
        raise DataError(path, None, "expected a list of detections ({image_name | image_id, bbox, score, ...})")
    keys: list[int | str] = []
    kept: list[int] = []
    for i, det in enumerate(data):
        where = f"[{i}]"
        if not isinstance(det, dict):
            raise DataError(path, where, "expected an object")
        if "image_name" in det:
            if not isinstance(det["image_name"], str) or not det["image_name"]:
                raise DataError(path, f"{where}.image_name", f"expected an image path, got {det['image_name']!r}")
            key: int | str = image_key(det["image_name"])
        elif "image_id" in det:
            if isinstance(det["image_id"], bool) or not isinstance(det["image_id"], (int, str)):
                raise DataError(path, f"{where}.image_id", f"expected an integer, got {det['image_id']!r}")
            try:
                key = int(det["image_id"])
            except ValueError:
                raise DataError(path, f"{where}.image_id", f"expected an integer, got {det['image_id']!r}") from None
        else:
            raise DataError(path, f"{where}.image_name", "missing (DCPose's format; or image_id, COCO results)")
        for field_name in ("bbox", "score"):
            if field_name not in det:
                raise DataError(path, f"{where}.{field_name}", "missing")
        if det.get("category_id", 1) == 1:
            keys.append(key)
            kept.append(i)
    # the values of every kept detection, checked at once (the first bad one is named)
    boxes = numbers(path, "[{}].bbox", [data[i]["bbox"] for i in kept], 4, kept)
    scores = numbers(path, "[{}].score", [[data[i]["score"]] for i in kept], 1, kept)[:, 0]
    flat = np.flatnonzero((boxes[:, 2] <= 0) | (boxes[:, 3] <= 0))
    if len(flat):
        raise DataError(path, f"[{kept[flat[0]]}].bbox", f"box has non-positive size {boxes[flat[0]].tolist()}")
    out: dict[int | str, list[Detection]] = {}
    for key, box, score in zip(keys, list(boxes), scores.tolist()):
        if score >= score_threshold:
            out.setdefault(key, []).append(Detection(box=box, score=score))
    return out


@dataclass
class JoinedDetections:
    """Detections paired with a split's frames: ``by_image`` (frame image id -> boxes) and what matched no frame."""

    by_image: dict[int, list[Detection]]
    matched_boxes: int
    unmatched_boxes: int
    unmatched_keys: list  # a few of the image names/ids that matched no frame, for the message


def join_detections(
    detections: dict[int | str, list[Detection]], sequences: Iterable[Sequence], path: str | Path | None = None
) -> JoinedDetections:
    """Pair detections with the frames of ``sequences``: by image name (``image_key`` of the frame's
    ``file_name``) for DCPose's format, by image id for COCO results. No box matching any frame is an error naming
    the file (the box file belongs to another split or release, or its names follow another layout)."""
    by_name: dict[str, int] = {}
    ids: set[int] = set()
    for seq in sequences:
        for frame in seq.frames:
            by_name[image_key(frame.file_name)] = frame.image_id
            ids.add(frame.image_id)
    by_image: dict[int, list[Detection]] = {}
    matched = unmatched = 0
    missed: list = []
    for key, dets in detections.items():
        image_id = by_name.get(key) if isinstance(key, str) else (key if key in ids else None)
        if image_id is None:
            unmatched += len(dets)
            if len(missed) < 3:
                missed.append(key)
            continue
        matched += len(dets)
        by_image.setdefault(image_id, []).extend(dets)
    if detections and matched == 0:
        example = next(iter(by_name), None)
        raise DataError(
            path,
            "image_name" if isinstance(next(iter(detections)), str) else "image_id",
            f"none of the {unmatched} boxes matches an image of the annotations (e.g. {missed[:3]}; "
            f"frames are named like {example!r})",
        )
    return JoinedDetections(by_image, matched, unmatched, missed)


def iter_labeled(sequences: Iterable[Sequence]) -> Iterable[tuple[Sequence, Frame]]:
    for seq in sequences:
        for frame in seq.frames:
            if frame.is_labeled:
                yield seq, frame


def to_posetrack18(seq: Sequence, file_name=lambda frame: frame.file_name) -> dict:
    """A sequence as one PoseTrack18 annotation file (the canonical form ``dsta.prepare`` writes for every release);
    ``file_name(frame)`` may rewrite image paths. Reading the result back gives the same sequence."""
    images, annotations = [], []
    for frame in seq.frames:
        img: dict[str, Any] = {
            "id": frame.image_id,
            "file_name": file_name(frame),
            "frame_id": frame.image_id,
            "vid_id": seq.name,
            "is_labeled": frame.is_labeled,
            "ignore_regions_x": [r[:, 0].tolist() for r in frame.ignore_regions],
            "ignore_regions_y": [r[:, 1].tolist() for r in frame.ignore_regions],
            **frame.flags,
        }
        if frame.width is not None:
            img.update(width=frame.width, height=frame.height)
        images.append(img)
        for n, person in enumerate(frame.persons):
            flat = np.concatenate([person.keypoints, person.visible[:, None].astype(np.float64)], axis=1)
            ann: dict[str, Any] = {
                "id": frame.image_id * 1000 + n,
                "image_id": frame.image_id,
                "track_id": person.track_id,
                "category_id": 1,
                "keypoints": flat.reshape(-1).tolist(),
                "num_keypoints": person.num_keypoints,
            }
            if person.box is not None:
                ann["bbox"] = person.box.tolist()
            if person.head_box is not None:
                ann["bbox_head"] = person.head_box.tolist()
            if person.person_id is not None:
                ann["person_id"] = person.person_id
            annotations.append(ann)
    return {
        "images": images,
        "annotations": annotations,
        "categories": [
            {
                "supercategory": "person",
                "id": 1,
                "name": "person",
                "keypoints": list(kp.KEYPOINT_NAMES),
                "skeleton": [list(s) for s in kp.POSETRACK18_CATEGORY_SKELETON],
            }
        ],
    }
