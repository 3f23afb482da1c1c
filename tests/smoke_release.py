"""Small PoseTrack17/18/21 releases on disk, built from the real files in ``../shared/posetrack18-sample``, for the
real-layout smoke test (``tests/test_smoke_posetrack.py``).

Each release has the tree its dataset puts on disk, the real annotations, images and masks, and the frames the
clips need filled from the real ones (frames 1 and 2 of every sequence are copies of its labeled frame 0):

* PoseTrack18: ``annotations/{train,val}/<seq>.json`` (COCO-style), ``images/{train,val}/<seq>/000000.jpg``,
  ``mask/...``; DCPose's box file ``DcPose_supp_files/posetrack18_precomputed_boxes/val_boxes.json``
  (``image_name``, ``bbox``, ``score``, ``category_id``, ``nframes``, ``frame_id``).
* PoseTrack17: ``annotations/{train,val}/<seq>.json`` in the ``annolist`` format, images in the renamed layout that
  DCPose's PoseTrack17 files use (``images/val/<seq>/000000.jpg``); DCPose's box file
  ``DcPose_supp_files/posetrack17_precomputed_boxes/val_boxes.json``.
* PoseTrack21: ``posetrack_data/{train,val}/<seq>.json`` (with ``person_id``), ``images/{train,val}/...``; a box file
  in COCO results format (``val_detections.json``: ``image_id``, ``bbox``, ``score``, ``category_id``).

Train holds the two sequences with 1 and 2 people (one iteration of batch 2); val the three sequences with the best
real detection of each labeled frame, plus one box of an image that is not in the release (to be reported as
unmatched).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dsta.core import keypoints as kp

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "posetrack18-sample"
TRAIN = ("003418_mpii_test", "009473_mpii_test")
FILL = 2  # frames added after the labeled one


def _sequences() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((SAMPLE / "annotations" / "val").glob("*.json"))}


def _with_frames(doc: dict, split: str) -> dict:
    """The sequence with FILL unlabeled frames after its labeled one, images under ``images/<split>/``."""
    doc = json.loads(json.dumps(doc))
    first = doc["images"][0]
    first["file_name"] = first["file_name"].replace("images/val/", f"images/{split}/")
    first["nframes"] = 1 + FILL
    for k in range(1, FILL + 1):
        img = {key: first[key] for key in ("file_name", "nframes", "vid_id", "width", "height") if key in first}
        img.update(
            id=first["id"] + k,
            frame_id=first["frame_id"] + k,
            is_labeled=False,
            file_name=first["file_name"].replace("000000.jpg", f"{k:06d}.jpg"),
            ignore_regions_x=[],
            ignore_regions_y=[],
        )
        doc["images"].append(img)
    return doc


def _copy_images(root: Path, seq: str, split: str, masks: bool) -> None:
    src = SAMPLE / "images" / "val" / seq / "000000.jpg"
    dest = root / "images" / split / seq
    dest.mkdir(parents=True, exist_ok=True)
    for k in range(FILL + 1):
        shutil.copyfile(src, dest / f"{k:06d}.jpg")
    if masks:
        (root / "mask" / split / seq).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE / "mask" / "val" / seq / "000000.jpg", root / "mask" / split / seq / "000000.jpg")


def _annolist(doc: dict) -> dict:
    """A PoseTrack18 sequence as a PoseTrack17 ``annolist`` file (15 joints in poseval's ids, head rectangles)."""
    keypoint_to_id = {j: i for i, j in kp.POSETRACK17_ID_TO_KEYPOINT.items()}
    entries = []
    for img in doc["images"]:
        rects = []
        for ann in (a for a in doc["annotations"] if a["image_id"] == img["id"]):
            points = []
            for j, pid in sorted(keypoint_to_id.items(), key=lambda t: t[1]):
                x, y, v = ann["keypoints"][3 * j : 3 * j + 3]
                if v > 0:
                    points.append({"id": [pid], "x": [x], "y": [y], "is_visible": [1]})
            hx, hy, hw, hh = ann["bbox_head"]
            rects.append(
                {
                    "x1": [hx],
                    "y1": [hy],
                    "x2": [hx + hw],
                    "y2": [hy + hh],
                    "track_id": [ann["track_id"]],
                    "annopoints": [{"point": points}],
                }
            )
        regions = [
            {"point": [{"x": [x], "y": [y]} for x, y in zip(xs, ys)]}
            for xs, ys in zip(img.get("ignore_regions_x", []), img.get("ignore_regions_y", []))
        ]
        entries.append(
            {
                "image": [{"name": img["file_name"]}],
                "is_labeled": [int(bool(img["is_labeled"]))],
                "annorect": rects,
                "ignore_regions": regions,
            }
        )
    return {"annolist": entries}


def _best_detections() -> list[dict]:
    """The best real detection of each sample image (COCO results, image ids of PoseTrack18)."""
    raw = json.loads((SAMPLE / "annotations" / "test_posetrack18_human_detections.json").read_text())
    best: dict[int, dict] = {}
    for det in raw:
        if det["category_id"] == 1 and det["score"] > best.get(det["image_id"], {"score": -1})["score"]:
            best[det["image_id"]] = det
    return [best[k] for k in sorted(best)]


def build_release(root: Path, version: int) -> Path:
    """Write the PoseTrack``version`` smoke release under ``root``; returns ``root``."""
    assert version in (17, 18, 21)
    seqs = _sequences()
    ann_parent = root / ("posetrack_data" if version == 21 else "annotations")
    names: dict[int, str] = {}
    for split, chosen in (("train", TRAIN), ("val", tuple(seqs))):
        for seq in chosen:
            doc = _with_frames(seqs[seq], split)
            names[doc["images"][0]["id"]] = doc["images"][0]["file_name"]
            _copy_images(root, seq, split, masks=version != 17)
            if version == 21:
                for ann in doc["annotations"]:
                    ann["person_id"] = ann["track_id"]
            out = ann_parent / split / f"{seq}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(_annolist(doc) if version == 17 else doc))
    dets = _best_detections()
    stray = {**dets[0], "image_id": 10999990000, "bbox": [1.0, 1.0, 50.0, 100.0]}  # an image not in the release
    if version == 21:
        path = root / "val_detections.json"
        path.write_text(json.dumps(dets + [stray]))
    else:
        boxes = [
            {
                "image_name": names[d["image_id"]],
                "bbox": d["bbox"],
                "score": d["score"],
                "category_id": 1,
                "nframes": 1 + FILL,
                "frame_id": d["image_id"],
            }
            for d in dets
        ]
        boxes.append({**boxes[0], "image_name": "images/val/999999_mpii_test/000000.jpg", "frame_id": 10999990000})
        path = root / "DcPose_supp_files" / f"posetrack{version}_precomputed_boxes" / "val_boxes.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(boxes))
    return root
