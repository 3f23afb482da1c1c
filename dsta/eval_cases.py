"""Random PoseTrack18 evaluation cases (GT + noisy predictions), for the evaluator's tests and benchmark.

``python -m dsta.eval_cases --out DIR --sequences 50 --frames 30 --persons 5`` writes ``DIR/gt`` and ``DIR/pred``.
GT people have all 15 evaluated joints (ears stored as ``(0, 0, 0)``), head boxes, optional ignore regions and
unlabeled frames; predictions jitter the GT by a Gaussian in head-size units, drop people (false negatives), add
false positives, and score joints by closeness with noise.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsta.core import keypoints as kp
from dsta.core.errors import doc_summary
from dsta.core.io import write_json


@dataclass(frozen=True)
class CaseConfig:
    sequences: int = 50
    frames: int = 30  # labeled frames per sequence
    persons: int = 5
    noise: float = 0.25  # jitter std, in units of the head size
    drop_prob: float = 0.1  # a GT person gets no prediction
    fp_per_frame: float = 1.0  # mean number of false-positive people per frame
    missing_joint_prob: float = 0.1  # a GT joint is not annotated
    ignore_region_prob: float = 0.0  # a frame gets an ignore polygon
    unlabeled_frames: int = 0  # extra frames without GT per sequence (predictions there are not counted)
    tie_prob: float = 0.05  # a predicted joint's score is exactly 1.0 (ties)
    seed: int = 0


def _person(rng: np.random.RandomState, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    centre = rng.uniform([100, 100], [w - 100, h - 100])
    scale = rng.uniform(40, 120)
    pts = centre + rng.normal(0, 1, size=(kp.NUM_KEYPOINTS, 2)) * [scale * 0.4, scale]
    head = np.array([*(pts[kp.KEYPOINT_INDEX["head_top"]] - scale * 0.15), scale * 0.3, scale * 0.3])
    return pts, head


def make_case(out: str | Path, cfg: CaseConfig) -> None:
    out = Path(out)
    rng = np.random.RandomState(cfg.seed)
    w, h = 1280, 720
    for s in range(cfg.sequences):
        vid = 24_000 + s
        name = f"{vid:06d}_mpii_test"
        images, gt_anns, pr_anns = [], [], []
        n_frames = cfg.frames + cfg.unlabeled_frames
        unlabeled = set(rng.choice(n_frames, cfg.unlabeled_frames, replace=False).tolist())
        for t in range(n_frames):
            image_id = 10_000_000_000 + vid * 10_000 + t
            img = {
                "id": image_id,
                "frame_id": image_id,
                "vid_id": f"{vid:06d}",
                "nframes": n_frames,
                "file_name": f"images/val/{name}/{t:06d}.jpg",
                "is_labeled": t not in unlabeled,
                "corrupted": bool(rng.rand() < 0.3),
            }
            if t not in unlabeled and rng.rand() < cfg.ignore_region_prob:
                cx, cy, r = rng.uniform(100, w - 100), rng.uniform(100, h - 100), rng.uniform(30, 200)
                ang = np.sort(rng.uniform(0, 2 * np.pi, 7))
                img["ignore_regions_x"] = [[round(float(cx + r * np.cos(a)), 1) for a in ang]]
                img["ignore_regions_y"] = [[round(float(cy + r * np.sin(a)), 1) for a in ang]]
            images.append(img)
            track = 0
            for p in range(cfg.persons if t not in unlabeled else 0):
                pts, head = _person(rng, w, h)
                kps = np.concatenate([pts, np.ones((kp.NUM_KEYPOINTS, 1))], 1)
                missing = rng.rand(kp.NUM_KEYPOINTS) < cfg.missing_joint_prob
                for ear in kp.UNANNOTATED_KEYPOINTS:
                    missing[kp.KEYPOINT_INDEX[ear]] = True
                kps[missing] = 0
                gt_anns.append(
                    {
                        "image_id": image_id,
                        "track_id": p,
                        "keypoints": kps.reshape(-1).round(2).tolist(),
                        "bbox_head": head.round(2).tolist(),
                        "category_id": 1,
                    }
                )
                if rng.rand() < cfg.drop_prob:
                    continue
                size = 0.6 * np.hypot(head[2], head[3])
                err = rng.normal(0, cfg.noise, size=(kp.NUM_KEYPOINTS, 2)) * size
                scores = np.clip(
                    np.exp(-np.linalg.norm(err, axis=1) / size) + rng.normal(0, 0.1, kp.NUM_KEYPOINTS), 0, 1
                )
                scores[rng.rand(kp.NUM_KEYPOINTS) < cfg.tie_prob] = 1.0
                pred = np.concatenate([pts + err, np.ones((kp.NUM_KEYPOINTS, 1))], 1)
                pr_anns.append(
                    {
                        "image_id": image_id,
                        "track_id": track,
                        "keypoints": pred.reshape(-1).tolist(),
                        "scores": scores.tolist(),
                        "category_id": 1,
                    }
                )
                track += 1
            for _ in range(rng.poisson(cfg.fp_per_frame)):
                pts, _ = _person(rng, w, h)
                pred = np.concatenate([pts, np.ones((kp.NUM_KEYPOINTS, 1))], 1)
                pr_anns.append(
                    {
                        "image_id": image_id,
                        "track_id": track,
                        "keypoints": pred.reshape(-1).tolist(),
                        "scores": rng.uniform(0, 0.8, kp.NUM_KEYPOINTS).tolist(),
                        "category_id": 1,
                    }
                )
                track += 1
        cats = [{"supercategory": "person", "id": 1, "name": "person", "keypoints": list(kp.KEYPOINT_NAMES)}]
        write_json(out / "gt" / f"{name}.json", {"images": images, "annotations": gt_anns, "categories": cats})
        write_json(out / "pred" / f"{name}.json", {"images": images, "annotations": pr_anns, "categories": cats})


def main(argv: list[str] | None = None) -> None:
    d = CaseConfig()
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--out", required=True)
    for field in ("sequences", "frames", "persons", "unlabeled_frames", "seed"):
        p.add_argument(f"--{field.replace('_', '-')}", type=int, default=getattr(d, field))
    for field in ("noise", "drop_prob", "fp_per_frame", "missing_joint_prob", "ignore_region_prob", "tie_prob"):
        p.add_argument(f"--{field.replace('_', '-')}", type=float, default=getattr(d, field))
    a = vars(p.parse_args(argv))
    out = a.pop("out")
    make_case(out, CaseConfig(**a))


if __name__ == "__main__":
    main()
