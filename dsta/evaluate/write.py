"""Writing predictions as PoseTrack18 files, one per GT sequence, that the evaluator pairs with the GT."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsta.core import keypoints as kp
from dsta.core.errors import DataError
from dsta.core.io import load_json, write_json
from dsta.data.posetrack import posetrack17_image_id


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
    reader derives from the image name. Each file lists the GT file's images in the GT's order (so the evaluator can
    pair frames) and one annotation per prediction, with 17 keypoints (flag 1), 17 ``scores``, the box and a track id
    unique within the frame.
    """
    gt_dir, out_dir = Path(gt_dir), Path(out_dir)
    by_image: dict[int, list[PosePrediction]] = {}
    for p in predictions:
        if p.keypoints.shape != (kp.NUM_KEYPOINTS, 2) or p.scores.shape != (kp.NUM_KEYPOINTS,):
            raise DataError(
                None,
                "predictions",
                f"expected (17, 2) keypoints and (17,) scores for image "
                f"{p.image_id}, got {p.keypoints.shape} and {p.scores.shape}",
            )
        if not (np.isfinite(p.keypoints).all() and np.isfinite(p.scores).all()):
            raise DataError(None, "predictions", f"NaN or infinite keypoint/score for image {p.image_id}")
        by_image.setdefault(int(p.image_id), []).append(p)
    written = []
    for gt_path in sorted(gt_dir.glob("*.json")):
        gt = load_json(gt_path)
        if "annolist" in gt:
            # PoseTrack17 GT: frames are paired by image name; the dataset numbered them like PoseTrack18 ids
            names = [e["image"][0]["name"] for e in gt["annolist"]]
            images = [{"id": name, "file_name": name} for name in names]
            keys = [posetrack17_image_id(name, i) for i, name in enumerate(names)]
        elif "images" in gt:
            images = [
                {k: img[k] for k in ("id", "file_name", "frame_id", "vid_id", "nframes", "is_labeled") if k in img}
                for img in gt["images"]
            ]
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
                ann = {
                    "image_id": img["id"],
                    "track_id": int(track),
                    "category_id": 1,
                    "keypoints": [round(float(v), 3) for v in kpts.reshape(-1)],
                    "scores": [round(float(v), 6) for v in p.scores],
                    "score": float(p.box_score),
                }
                if p.box is not None:
                    ann["bbox"] = [round(float(v), 2) for v in p.box]
                anns.append(ann)
        doc = {
            "images": images,
            "annotations": anns,
            "categories": [
                {"supercategory": "person", "id": 1, "name": "person", "keypoints": list(kp.KEYPOINT_NAMES)}
            ],
        }
        path = out_dir / gt_path.name
        write_json(path, doc)
        written.append(path)
    return written
