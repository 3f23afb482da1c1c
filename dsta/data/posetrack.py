"""Readers for the three PoseTrack releases, into one in-memory representation.

* PoseTrack17: one ``annolist`` JSON per sequence. Each entry has ``image[0].name``, ``annorect`` (people, with the
  head rectangle ``x1/y1/x2/y2``, ``track_id`` and ``annopoints[0].point`` of ``id/x/y/is_visible``, ids in
  poseval's 15-joint order), ``is_labeled`` and ``ignore_regions``.
* PoseTrack18: one COCO-style JSON per sequence: ``images`` (``id``, ``file_name``, ``frame_id``, ``vid_id``,
  ``is_labeled``, ``ignore_regions_x/y``) and ``annotations`` (17x3 ``keypoints``, ``bbox``, ``bbox_head``,
  ``track_id``).
* PoseTrack21: ``posetrack_data/{train,val}/*.json``, COCO-style like PoseTrack18, with ``person_id`` as well.

All three load into ``Sequence -> Frame -> Person``. Keypoints are always in the 17-keypoint order of
``dsta.keypoints``; coordinates are image pixels. Person boxes are ``x, y, w, h``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from dsta import keypoints as kp
from dsta.errors import DataError
from dsta.io import load_json

FORMATS = ("posetrack17", "posetrack18", "posetrack21")


@dataclass
class Person:
    """One annotated (or detected) person in one frame."""

    keypoints: np.ndarray  # (17, 2) float64, image pixels; 0 where not annotated
    visible: np.ndarray  # (17,) float32, 1 where the keypoint is annotated
    track_id: int
    box: np.ndarray | None = None  # (4,) x, y, w, h
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


def _box(path: Path, where: str, value: Any) -> np.ndarray:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise DataError(path, where, f"expected [x, y, w, h], got {value!r}")
    return np.array([_number(path, f"{where}[{i}]", v) for i, v in enumerate(value)], dtype=np.float64)


def _check_box_in_image(path: Path, where: str, box: np.ndarray, width: int | None, height: int | None) -> None:
    """A box must have a positive size and overlap the image (real PoseTrack boxes may spill over the border)."""
    x, y, w, h = box
    if w <= 0 or h <= 0:
        raise DataError(path, where, f"box has non-positive size (w={w:g}, h={h:g})")
    if width is not None and height is not None:
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            raise DataError(path, where, f"box {box.tolist()} lies outside the {width}x{height} image")


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
    raise DataError(path, None, f"unknown format: expected 'annolist' (PoseTrack17) or 'images'+'annotations' "
                                f"(PoseTrack18/21), found {keys}")


# ----------------------------------------------------------------------------------------------------------------
# PoseTrack18 / PoseTrack21


def _keypoints17(path: Path, where: str, values: Any, names: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
    n = len(names) if names else kp.NUM_KEYPOINTS
    if not isinstance(values, list) or len(values) != 3 * n:
        got = len(values) if isinstance(values, list) else type(values).__name__
        raise DataError(path, where, f"expected {n}x3={3 * n} values, got {got}")
    arr = np.array([_number(path, f"{where}[{i}]", v) for i, v in enumerate(values)], dtype=np.float64).reshape(n, 3)
    xy = np.zeros((kp.NUM_KEYPOINTS, 2))
    vis = np.zeros(kp.NUM_KEYPOINTS, dtype=np.float32)
    for src, name in enumerate(names or kp.KEYPOINT_NAMES):
        dst = kp.KEYPOINT_INDEX[name]
        xy[dst] = arr[src, :2]
        # PoseTrack writes an unannotated keypoint as (0, 0, 0); an annotated one keeps its flag, which is 1.
        vis[dst] = 0.0 if (arr[src, 0] == 0 and arr[src, 1] == 0 and arr[src, 2] == 0) else 1.0
    return xy, vis


def _category_names(path: Path, data: dict) -> list[str] | None:
    cats = data.get("categories")
    if not cats:
        return None
    names = cats[0].get("keypoints") if isinstance(cats[0], dict) else None
    if names is None:
        return None
    if not isinstance(names, list) or len(names) != kp.NUM_KEYPOINTS or set(names) != set(kp.KEYPOINT_NAMES):
        raise DataError(path, "categories[0].keypoints",
                        f"expected the 17 PoseTrack keypoint names, got {names!r}")
    return names


def _ignore_regions(path: Path, where: str, xs: Any, ys: Any) -> list[np.ndarray]:
    if xs is None and ys is None:
        return []
    if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
        raise DataError(path, where, "ignore_regions_x and ignore_regions_y must be lists of equal length")
    regions = []
    for r, (rx, ry) in enumerate(zip(xs, ys)):
        if not isinstance(rx, list) or not isinstance(ry, list) or len(rx) != len(ry):
            raise DataError(path, f"{where}[{r}]", "x and y lists of a region must have equal length")
        pts = np.array([[_number(path, f"{where}[{r}]", a), _number(path, f"{where}[{r}]", b)]
                        for a, b in zip(rx, ry)], dtype=np.float64).reshape(-1, 2)
        regions.append(pts)
    return regions


def read_posetrack18(path: str | Path, data: dict | None = None, fmt: str = "posetrack18") -> Sequence:
    """Read one PoseTrack18 (or PoseTrack21) per-sequence annotation file."""
    path = Path(path)
    data = load_json(path) if data is None else data
    images = data.get("images")
    anns = data.get("annotations")
    if not isinstance(images, list):
        raise DataError(path, "images", "expected a list")
    if not isinstance(anns, list):
        raise DataError(path, "annotations", "expected a list")
    if not images:
        raise DataError(path, "images", "empty sequence: no images")
    names = _category_names(path, data)

    frames: list[Frame] = []
    by_id: dict[int, Frame] = {}
    for i, img in enumerate(images):
        where = f"images[{i}]"
        if not isinstance(img, dict):
            raise DataError(path, where, "expected an object")
        for key in ("id", "file_name"):
            if key not in img:
                raise DataError(path, f"{where}.{key}", "missing")
        image_id = img["id"]
        if not isinstance(image_id, int) or isinstance(image_id, bool):
            raise DataError(path, f"{where}.id", f"expected an integer, got {image_id!r}")
        if image_id in by_id:
            raise DataError(path, f"{where}.id", f"duplicate image id {image_id}")
        flags = {k: v for k, v in img.items() if isinstance(v, bool) and k not in ("is_labeled", "has_no_densepose")}
        frame = Frame(
            image_id=image_id,
            file_name=str(img["file_name"]),
            index=i,
            is_labeled=bool(img.get("is_labeled", True)),
            ignore_regions=_ignore_regions(path, f"{where}.ignore_regions", img.get("ignore_regions_x"),
                                           img.get("ignore_regions_y")),
            width=img.get("width"),
            height=img.get("height"),
            flags=flags,
        )
        frames.append(frame)
        by_id[image_id] = frame

    for j, ann in enumerate(anns):
        where = f"annotations[{j}]"
        if not isinstance(ann, dict):
            raise DataError(path, where, "expected an object")
        if ann.get("image_id") not in by_id:
            raise DataError(path, f"{where}.image_id", f"refers to no image in this file ({ann.get('image_id')!r})")
        frame = by_id[ann["image_id"]]
        if "keypoints" not in ann:
            raise DataError(path, f"{where}.keypoints", "missing")
        xy, vis = _keypoints17(path, f"{where}.keypoints", ann["keypoints"], names)
        box = _box(path, f"{where}.bbox", ann["bbox"]) if ann.get("bbox") is not None else None
        head = _box(path, f"{where}.bbox_head", ann["bbox_head"]) if ann.get("bbox_head") is not None else None
        if box is not None and vis.any():
            _check_box_in_image(path, f"{where}.bbox", box, frame.width, frame.height)
        track_id = ann.get("track_id", j)
        if not isinstance(track_id, int) or isinstance(track_id, bool):
            raise DataError(path, f"{where}.track_id", f"expected an integer, got {track_id!r}")
        frame.persons.append(Person(
            keypoints=xy, visible=vis, track_id=track_id, box=box, head_box=head,
            score=float(ann.get("score", 1.0)), person_id=ann.get("person_id"),
        ))
    name = _sequence_name(path, frames)
    return Sequence(name=name, frames=frames, source=str(path), format=fmt)


def read_posetrack21(path: str | Path, data: dict | None = None) -> Sequence:
    """Read one PoseTrack21 ``posetrack_data`` file (COCO-style like PoseTrack18, plus ``person_id``)."""
    return read_posetrack18(path, data, fmt="posetrack21")


def _sequence_name(path: Path, frames: list[Frame]) -> str:
    parent = Path(frames[0].file_name).parent.name
    return parent or path.stem


# ----------------------------------------------------------------------------------------------------------------
# PoseTrack17


def _first(path: Path, where: str, value: Any) -> Any:
    """PoseTrack17 wraps every scalar in a one-element list."""
    if isinstance(value, list):
        if len(value) != 1:
            raise DataError(path, where, f"expected a one-element list, got {value!r}")
        return value[0]
    return value


def read_posetrack17(path: str | Path, data: dict | None = None) -> Sequence:
    """Read one PoseTrack17 ``annolist`` file."""
    path = Path(path)
    data = load_json(path) if data is None else data
    annolist = data.get("annolist")
    if not isinstance(annolist, list):
        raise DataError(path, "annolist", "expected a list")
    if not annolist:
        raise DataError(path, "annolist", "empty sequence: no images")
    frames: list[Frame] = []
    seen: set[int] = set()
    for i, entry in enumerate(annolist):
        where = f"annolist[{i}]"
        try:
            name = str(_first(path, f"{where}.image", entry["image"])["name"])
        except (KeyError, TypeError):
            raise DataError(path, f"{where}.image", "expected [{'name': ...}]") from None
        image_id = posetrack17_image_id(name, i)
        if image_id in seen:
            raise DataError(path, f"{where}.image", f"duplicate image {name}")
        seen.add(image_id)
        labeled = bool(_first(path, f"{where}.is_labeled", entry.get("is_labeled", [1])))
        regions = []
        for r, region in enumerate(entry.get("ignore_regions", []) or []):
            pts = region.get("point", []) if isinstance(region, dict) else None
            if not isinstance(pts, list):
                raise DataError(path, f"{where}.ignore_regions[{r}].point", "expected a list of points")
            regions.append(np.array([[_number(path, f"{where}.ignore_regions[{r}]", _first(path, where, p["x"])),
                                      _number(path, f"{where}.ignore_regions[{r}]", _first(path, where, p["y"]))]
                                     for p in pts], dtype=np.float64).reshape(-1, 2))
        frame = Frame(image_id=image_id, file_name=name, index=i, is_labeled=labeled, ignore_regions=regions)
        for j, rect in enumerate(entry.get("annorect", []) or []):
            frame.persons.append(_posetrack17_person(path, f"{where}.annorect[{j}]", rect, j))
        frames.append(frame)
    return Sequence(name=_sequence_name(path, frames), frames=frames, source=str(path), format="posetrack17")


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


def _posetrack17_person(path: Path, where: str, rect: dict, j: int) -> Person:
    if not isinstance(rect, dict):
        raise DataError(path, where, "expected an object")
    xy = np.zeros((kp.NUM_KEYPOINTS, 2))
    vis = np.zeros(kp.NUM_KEYPOINTS, dtype=np.float32)
    annopoints = rect.get("annopoints") or []
    points = annopoints[0].get("point", []) if annopoints and isinstance(annopoints[0], dict) else []
    for p, point in enumerate(points or []):
        pw = f"{where}.annopoints[0].point[{p}]"
        pid = int(_first(path, f"{pw}.id", point.get("id")))
        if pid not in kp.POSETRACK17_ID_TO_KEYPOINT:
            raise DataError(path, f"{pw}.id", f"joint id {pid} is not one of the 15 PoseTrack17 ids 0..14")
        k = kp.POSETRACK17_ID_TO_KEYPOINT[pid]
        xy[k] = (_number(path, f"{pw}.x", _first(path, f"{pw}.x", point.get("x"))),
                 _number(path, f"{pw}.y", _first(path, f"{pw}.y", point.get("y"))))
        vis[k] = 1.0
    head = None
    if all(k in rect for k in ("x1", "y1", "x2", "y2")):
        x1, y1, x2, y2 = (_number(path, f"{where}.{k}", _first(path, f"{where}.{k}", rect[k]))
                          for k in ("x1", "y1", "x2", "y2"))
        head = np.array([x1, y1, x2 - x1, y2 - y1])
    track = rect.get("track_id", [j])
    return Person(keypoints=xy, visible=vis, track_id=int(_first(path, f"{where}.track_id", track)),
                  box=box_from_keypoints(xy, vis), head_box=head,
                  score=float(_first(path, f"{where}.score", rect.get("score", [1.0]))))


def box_from_keypoints(xy: np.ndarray, vis: np.ndarray, margin: float = 0.65) -> np.ndarray | None:
    """A person box around the annotated keypoints: the keypoint extent scaled by ``2 * margin`` about its centre
    (poseval's convention for PoseTrack17 people, which carry no box)."""
    pts = xy[vis > 0]
    if len(pts) == 0:
        return None
    lo, hi = pts.min(0), pts.max(0)
    centre, extent = (lo + hi) / 2, (hi - lo) * 2 * margin
    extent = np.maximum(extent, 1.0)
    return np.array([centre[0] - extent[0] / 2, centre[1] - extent[1] / 2, extent[0], extent[1]])


# ----------------------------------------------------------------------------------------------------------------
# files and directories


def read_sequence(path: str | Path) -> Sequence:
    """Read one per-sequence annotation file of any PoseTrack release (detected from its content)."""
    path = Path(path)
    data = load_json(path)
    fmt = detect_format(data, path)
    if fmt == "posetrack17":
        return read_posetrack17(path, data)
    return read_posetrack18(path, data, fmt=fmt)


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


def read_detections(path: str | Path, score_threshold: float = 0.0) -> dict[int, list[Detection]]:
    """Person boxes in COCO results format (``[{image_id, category_id, bbox, score}, ...]``), as DCPose ships for
    PoseTrack val, keyed by image id and kept when ``score >= score_threshold``."""
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, list):
        raise DataError(path, None, "expected a list of detections in COCO results format")
    out: dict[int, list[Detection]] = {}
    for i, det in enumerate(data):
        where = f"[{i}]"
        if not isinstance(det, dict):
            raise DataError(path, where, "expected an object")
        for key in ("image_id", "bbox", "score"):
            if key not in det:
                raise DataError(path, f"{where}.{key}", "missing")
        if det.get("category_id", 1) != 1:
            continue
        score = _number(path, f"{where}.score", det["score"])
        box = _box(path, f"{where}.bbox", det["bbox"])
        if box[2] <= 0 or box[3] <= 0:
            raise DataError(path, f"{where}.bbox", f"box has non-positive size {box.tolist()}")
        if score >= score_threshold:
            out.setdefault(int(det["image_id"]), []).append(Detection(box=box, score=score))
    return out


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
        img: dict[str, Any] = {"id": frame.image_id, "file_name": file_name(frame), "frame_id": frame.image_id,
                               "vid_id": seq.name, "is_labeled": frame.is_labeled,
                               "ignore_regions_x": [r[:, 0].tolist() for r in frame.ignore_regions],
                               "ignore_regions_y": [r[:, 1].tolist() for r in frame.ignore_regions],
                               **frame.flags}
        if frame.width is not None:
            img.update(width=frame.width, height=frame.height)
        images.append(img)
        for n, person in enumerate(frame.persons):
            flat = np.concatenate([person.keypoints, person.visible[:, None].astype(np.float64)], axis=1)
            ann: dict[str, Any] = {"id": frame.image_id * 1000 + n, "image_id": frame.image_id,
                                   "track_id": person.track_id, "category_id": 1,
                                   "keypoints": flat.reshape(-1).tolist(), "num_keypoints": person.num_keypoints}
            if person.box is not None:
                ann["bbox"] = person.box.tolist()
            if person.head_box is not None:
                ann["bbox_head"] = person.head_box.tolist()
            if person.person_id is not None:
                ann["person_id"] = person.person_id
            annotations.append(ann)
    return {"images": images, "annotations": annotations,
            "categories": [{"supercategory": "person", "id": 1, "name": "person",
                            "keypoints": list(kp.KEYPOINT_NAMES),
                            "skeleton": [list(s) for s in kp.POSETRACK18_CATEGORY_SKELETON]}]}
