"""The embedded default dataset: synthetic PoseTrack18-format videos of articulated figures.

``python -m dsta.data.synthetic --out DIR --seed S`` writes

    DIR/images/{train,val}/NNNNNN_mpii_{train,test}/FFFFFF.jpg
    DIR/annotations/{train,val}/NNNNNN_mpii_{train,test}.json   (PoseTrack18 format, with head boxes)
    DIR/boxes/val_detections.json                                (a synthetic detector's val boxes, DCPose's format)
    DIR/dataset.json                                             (the generation settings and counts)

Each video shows 1-4 figures (head, torso, limbs drawn as thick shaded segments, random sizes and clothing colours)
on a textured background, moving smoothly: walking, waving, turning on the spot, and pairs walking across each
other. Single frames are made ambiguous on purpose: occluders slide over the figures, and some frames get motion blur
or defocus. Those frames carry ``"corrupted": true`` (and ``"corruption"``, the kinds) in ``images`` so that reports
can split mAP into clean and corrupted frames. The ears are generated but, as in PoseTrack, never annotated.

The output depends only on the arguments: the same seed gives byte-identical files, on any x86-64 CPU (OpenCV's
CPU-dispatched kernels and IPP are off while frames are made: ``_portable_opencv``).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dsta.core import keypoints as kp
from dsta.core.errors import DataError, doc_summary, main_guard
from dsta.core.io import atomic_dir, load_json, write_json

K = kp.KEYPOINT_INDEX
ACTIONS = ("walk", "wave", "turn", "cross")
SKIN_TONES = ((224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172))


@dataclass(frozen=True)
class SyntheticConfig:
    """Generation settings (the defaults are the pipeline's embedded dataset).

    Args:
        seed: master seed.
        train_sequences / val_sequences: number of videos per split.
        frames: frames per video.
        width / height: frame size in pixels.
        val_label_every: in val, every n-th frame is labeled (PoseTrack val labels a subset too); train labels all.
        corrupt_prob: per-frame probability of a blur/defocus event; occluders come on top of it.
        max_persons: at most this many figures per video (at least 1).
        jpeg_quality: JPEG quality of the frames.
    """

    seed: int = 0
    train_sequences: int = 64
    val_sequences: int = 16
    frames: int = 24
    width: int = 160
    height: int = 128
    val_label_every: int = 2
    corrupt_prob: float = 0.15
    max_persons: int = 4
    jpeg_quality: int = 92

    def __post_init__(self) -> None:
        checks = {
            "train_sequences": self.train_sequences >= 1,
            "val_sequences": self.val_sequences >= 1,
            "frames": self.frames >= 1,
            "width": self.width >= 32,
            "height": self.height >= 32,
            "val_label_every": self.val_label_every >= 1,
            "corrupt_prob": 0.0 <= self.corrupt_prob <= 1.0,
            "max_persons": 1 <= self.max_persons <= 8,
            "jpeg_quality": 10 <= self.jpeg_quality <= 100,
        }
        for name, ok in checks.items():
            if not ok:
                raise DataError(None, f"synthetic.{name}", f"invalid value {getattr(self, name)!r}")


# ----------------------------------------------------------------------------------------------------------------
# the figure: a 2-D articulated body whose pose is a smooth function of time


@dataclass
class Figure:
    track_id: int
    action: str
    height: float  # body height in pixels
    x0: float  # pelvis position at t=0
    y0: float
    vx: float  # pixels per frame
    facing0: float  # radians; 0 faces the camera (the figure's left is on the image's right)
    turn_rate: float
    phase: float
    freq: float
    wave_side: str
    colors: dict

    def pose(self, t: float) -> tuple[np.ndarray, float, float]:
        """Keypoints (17, 2) at time t, the head radius, and the facing angle."""
        h = self.height
        facing = self.facing0 + self.turn_rate * t
        cos_f, sin_f = math.cos(facing), math.sin(facing)
        swing = math.sin(self.freq * t + self.phase)
        walking = self.action in ("walk", "cross")
        pelvis = np.array([self.x0 + self.vx * t, self.y0 + (0.01 * h * abs(swing) if walking else 0.0)])
        up = np.array([math.sin(0.04 * swing), -math.cos(0.04 * swing)])  # slight torso sway
        neck = pelvis + up * 0.30 * h
        r_head = 0.065 * h
        head_bottom = neck + up * 0.03 * h
        head_centre = head_bottom + up * r_head
        head_top = head_centre + up * r_head
        nose = head_centre + np.array([0.75 * r_head * sin_f, 0.15 * r_head])
        side = np.array([cos_f, 0.0])  # the figure's left, in image coordinates
        pts = np.zeros((kp.NUM_KEYPOINTS, 2))
        pts[K["nose"]], pts[K["head_bottom"]], pts[K["head_top"]] = nose, head_bottom, head_top
        pts[K["left_ear"]] = head_centre + side * r_head * 0.95
        pts[K["right_ear"]] = head_centre - side * r_head * 0.95
        for s_name, sign in (("left", 1.0), ("right", -1.0)):
            shoulder = neck + side * sign * 0.11 * h + np.array([0.0, 0.02 * h])
            hip = pelvis + side * sign * 0.08 * h
            leg_swing = (0.45 * swing * sign) if walking else 0.03 * sign * swing
            knee_bend = 0.35 * max(0.0, -swing * sign) if walking else 0.0
            arm_swing = (-0.35 * swing * sign) if walking else 0.08 * sign
            a_upper = arm_swing + sign * cos_f * 0.12
            a_fore = a_upper + (0.25 if walking else 0.1)
            if self.action == "wave" and s_name == self.wave_side:
                a_upper = sign * cos_f * 2.3  # arm raised to the side
                a_fore = math.pi + 0.6 * math.sin(2.2 * self.freq * t + self.phase)
            elbow = shoulder + 0.17 * h * np.array([math.sin(a_upper), math.cos(a_upper)])
            wrist = elbow + 0.15 * h * np.array([math.sin(a_fore), math.cos(a_fore)])
            knee = hip + 0.24 * h * np.array([math.sin(leg_swing), math.cos(leg_swing)])
            a_shin = leg_swing - knee_bend * (1 if sin_f >= 0 else -1)
            ankle = knee + 0.23 * h * np.array([math.sin(a_shin), math.cos(a_shin)])
            for name, p in (
                ("shoulder", shoulder),
                ("elbow", elbow),
                ("wrist", wrist),
                ("hip", hip),
                ("knee", knee),
                ("ankle", ankle),
            ):
                pts[K[f"{s_name}_{name}"]] = p
        return pts, r_head, facing


def _random_figure(
    rng: np.random.RandomState, track_id: int, action: str, cfg: SyntheticConfig, direction: float
) -> Figure:
    h = rng.uniform(0.42, 0.8) * cfg.height
    y0 = rng.uniform(0.42 * h + 4, cfg.height - 0.48 * h)
    speed = rng.uniform(0.8, 2.2) * h / 60.0
    if action in ("walk", "cross"):
        x_start = rng.uniform(0.05, 0.45) * cfg.width if direction > 0 else rng.uniform(0.55, 0.95) * cfg.width
        vx, facing, turn = direction * speed, direction * math.pi / 2 + rng.normal(0, 0.2), 0.0
    else:
        x_start, vx = rng.uniform(0.15, 0.85) * cfg.width, rng.normal(0, 0.1)
        facing = rng.uniform(-0.6, 0.6) if action == "wave" else rng.uniform(0, 2 * math.pi)
        turn = rng.choice([-1, 1]) * rng.uniform(0.12, 0.25) if action == "turn" else 0.0
    base = rng.randint(0, 255, size=(3, 3))
    colors = {
        "skin": SKIN_TONES[rng.randint(len(SKIN_TONES))],
        "shirt": tuple(int(v) for v in base[0]),
        "pants": tuple(int(v) for v in base[1] // 2 + 40),
        "hair": tuple(int(v) for v in rng.randint(10, 90, size=3)),
        "shoes": tuple(int(v) for v in base[2] // 3),
    }
    return Figure(
        track_id=track_id,
        action=action,
        height=h,
        x0=x_start,
        y0=y0,
        vx=vx,
        facing0=facing,
        turn_rate=turn,
        phase=rng.uniform(0, 2 * math.pi),
        freq=rng.uniform(0.35, 0.6),
        wave_side=str(rng.choice(["left", "right"])),
        colors=colors,
    )


# ----------------------------------------------------------------------------------------------------------------
# drawing


def _background(rng: np.random.RandomState, w: int, h: int) -> np.ndarray:
    low = rng.randint(0, 256, size=(3, 4, 3)).astype(np.float32)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    horizon = int(h * rng.uniform(0.25, 0.5))
    img[horizon:] = img[horizon:] * 0.6 + np.array(rng.randint(40, 200, 3), np.float32) * 0.4
    for _ in range(rng.randint(3, 8)):  # furniture-like clutter and stripes
        x1, y1 = rng.randint(0, w), rng.randint(0, h)
        color = tuple(float(v) for v in rng.randint(0, 256, 3))
        if rng.rand() < 0.5:
            cv2.rectangle(img, (x1, y1), (x1 + rng.randint(5, w // 3), y1 + rng.randint(5, h // 3)), color, -1)
        else:
            cv2.line(img, (x1, 0), (x1 + rng.randint(-20, 20), h), color, int(rng.randint(1, 4)))
    texture = cv2.GaussianBlur(rng.normal(0, 18, size=(h, w)).astype(np.float32), (0, 0), 0.8)
    return np.clip(img + texture[..., None], 0, 255).astype(np.float32)


def _shade(color: tuple, f: float) -> tuple:
    return tuple(float(min(255, max(0, c * f))) for c in color)


def _limb(img: np.ndarray, a: np.ndarray, b: np.ndarray, color: tuple, thickness: int) -> None:
    """A thick segment with a dark outline and a light highlight, so limbs read as shaded cylinders."""
    pa, pb = tuple(int(round(v)) for v in a), tuple(int(round(v)) for v in b)
    cv2.line(img, pa, pb, _shade(color, 0.55), thickness + 2, cv2.LINE_AA)
    cv2.line(img, pa, pb, color, thickness, cv2.LINE_AA)
    off = np.array([-1, -1]) * max(1, thickness // 4)
    cv2.line(
        img,
        tuple(int(round(v)) for v in a + off),
        tuple(int(round(v)) for v in b + off),
        _shade(color, 1.35),
        max(1, thickness // 3),
        cv2.LINE_AA,
    )


def _draw_figure(img: np.ndarray, fig: Figure, pts: np.ndarray, r_head: float, facing: float) -> None:
    h, c = fig.height, fig.colors
    limb_w = max(2, int(round(0.055 * h)))
    # the side turned away from the camera is drawn first (and darker), then the torso, then the near side
    near = "left" if math.sin(facing) < 0 else "right"
    far = "right" if near == "left" else "left"
    for side, dim in ((far, 0.75), (near, 1.0)):
        if side == near:
            torso = np.array(
                [pts[K["left_shoulder"]], pts[K["right_shoulder"]], pts[K["right_hip"]], pts[K["left_hip"]]]
            )
            centre = torso.mean(0)
            torso = centre + (torso - centre) * np.array([1.25, 1.05])  # torso is wider than the joint centres
            cv2.fillConvexPoly(img, np.round(torso).astype(np.int32), _shade(c["shirt"], 0.9), cv2.LINE_AA)
            cv2.polylines(img, [np.round(torso).astype(np.int32)], True, _shade(c["shirt"], 0.5), 1, cv2.LINE_AA)
            _limb(
                img,
                pts[K["head_bottom"]],
                (pts[K["left_shoulder"]] + pts[K["right_shoulder"]]) / 2,
                c["skin"],
                max(2, limb_w - 1),
            )
        _limb(img, pts[K[f"{side}_hip"]], pts[K[f"{side}_knee"]], _shade(c["pants"], dim), limb_w + 1)
        _limb(img, pts[K[f"{side}_knee"]], pts[K[f"{side}_ankle"]], _shade(c["pants"], dim), limb_w)
        foot = pts[K[f"{side}_ankle"]]
        cv2.ellipse(
            img,
            (int(foot[0]), int(foot[1] + 1)),
            (max(2, limb_w), max(1, limb_w // 2)),
            0,
            0,
            360,
            _shade(c["shoes"], dim),
            -1,
            cv2.LINE_AA,
        )
        _limb(img, pts[K[f"{side}_shoulder"]], pts[K[f"{side}_elbow"]], _shade(c["shirt"], dim), limb_w)
        _limb(img, pts[K[f"{side}_elbow"]], pts[K[f"{side}_wrist"]], _shade(c["skin"], dim), max(2, limb_w - 1))
        hand = pts[K[f"{side}_wrist"]]
        cv2.circle(
            img,
            (int(round(hand[0])), int(round(hand[1]))),
            max(1, limb_w // 2 + 1),
            _shade(c["skin"], dim * 0.9),
            -1,
            cv2.LINE_AA,
        )
    centre = (pts[K["head_top"]] + pts[K["head_bottom"]]) / 2
    cc = (int(round(centre[0])), int(round(centre[1])))
    rr = max(2, int(round(r_head)))
    cv2.circle(img, cc, rr, c["skin"], -1, cv2.LINE_AA)
    # hair covers the back of the head: the upper half, shifted away from the face
    back = -math.sin(facing)
    cv2.ellipse(
        img,
        (int(round(centre[0] + back * 0.35 * r_head)), cc[1] - 1),
        (rr, max(1, int(rr * 0.8))),
        0,
        180,
        360,
        c["hair"],
        -1,
        cv2.LINE_AA,
    )
    nose = pts[K["nose"]]
    cv2.circle(img, (int(round(nose[0])), int(round(nose[1]))), max(1, rr // 4), _shade(c["skin"], 0.6), -1)


@dataclass
class Occluder:
    x0: float
    y0: float
    vx: float
    vy: float
    w: float
    h: float
    color: tuple
    start: int
    ellipse: bool

    def rect(self, t: int) -> tuple[float, float, float, float] | None:
        if t < self.start:
            return None
        dt = t - self.start
        return self.x0 + self.vx * dt, self.y0 + self.vy * dt, self.w, self.h


def _random_occluder(rng: np.random.RandomState, cfg: SyntheticConfig) -> Occluder:
    w, h = rng.uniform(0.12, 0.3) * cfg.width, rng.uniform(0.2, 0.6) * cfg.height
    from_left = rng.rand() < 0.5
    x0 = -w if from_left else cfg.width
    speed = rng.uniform(0.04, 0.09) * cfg.width
    return Occluder(
        x0=x0,
        y0=rng.uniform(0, cfg.height - h),
        vx=speed if from_left else -speed,
        vy=rng.normal(0, 0.5),
        w=w,
        h=h,
        color=tuple(float(v) for v in rng.randint(0, 256, 3)),
        start=int(rng.randint(0, max(1, cfg.frames - 4))),
        ellipse=bool(rng.rand() < 0.5),
    )


def _draw_occluder(img: np.ndarray, rect: tuple[float, float, float, float], occ: Occluder) -> None:
    x, y, w, h = rect
    if occ.ellipse:
        cv2.ellipse(
            img, (int(x + w / 2), int(y + h / 2)), (int(w / 2), int(h / 2)), 0, 0, 360, occ.color, -1, cv2.LINE_AA
        )
    else:
        cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), occ.color, -1)
        cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), _shade(occ.color, 0.5), 2)


def _inside_rect(pts: np.ndarray, rect: tuple[float, float, float, float], ellipse: bool) -> np.ndarray:
    x, y, w, h = rect
    if ellipse:
        return ((pts[:, 0] - x - w / 2) / (w / 2)) ** 2 + ((pts[:, 1] - y - h / 2) / (h / 2)) ** 2 <= 1
    return (pts[:, 0] >= x) & (pts[:, 0] <= x + w) & (pts[:, 1] >= y) & (pts[:, 1] <= y + h)


def _motion_blur(img: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    length = int(rng.randint(5, 12))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))


# ----------------------------------------------------------------------------------------------------------------
# sequences and files


def _portable_opencv(func):
    """Run ``func`` with OpenCV's CPU-dependent code switched off (``cv2.setUseOptimized(False)``: no run-time
    dispatch to AVX/AVX2/AVX-512 kernels, no Intel IPP), then restore the setting.

    The frames go through float32 ``GaussianBlur``, ``warpAffine`` and ``filter2D``, whose dispatched kernels round
    differently from the baseline (SSE2/SSE3) code, and IPP picks its code by CPU model and vendor; a difference of
    one rounding step flips a pixel at the final ``uint8`` cast, and the JPEG, ``dvc.lock``'s hash with it. The
    baseline code is the same on every x86-64 CPU, so the bytes are too (numpy's part is element-wise IEEE arithmetic
    and RandomState, identical everywhere; libjpeg-turbo's integer DCT is exact in all its SIMD paths)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        previous = cv2.useOptimized()
        cv2.setUseOptimized(False)
        try:
            return func(*args, **kwargs)
        finally:
            cv2.setUseOptimized(previous)

    return wrapper


@_portable_opencv
def _sequence(rng: np.random.RandomState, cfg: SyntheticConfig, split: str, vid: int, out: Path) -> dict:
    name = f"{vid:06d}_mpii_{'train' if split == 'train' else 'test'}"
    n_persons = int(rng.randint(1, cfg.max_persons + 1))
    figures: list[Figure] = []
    while len(figures) < n_persons:
        action = ACTIONS[rng.randint(len(ACTIONS))]
        if action == "cross" and len(figures) + 2 <= n_persons:
            figures.append(_random_figure(rng, len(figures), action, cfg, +1.0))
            figures.append(_random_figure(rng, len(figures), action, cfg, -1.0))
        else:
            figures.append(
                _random_figure(
                    rng, len(figures), "walk" if action == "cross" else action, cfg, float(rng.choice([-1.0, 1.0]))
                )
            )
    occluders = [_random_occluder(rng, cfg) for _ in range(rng.choice([0, 1, 1, 2]))]
    background = _background(rng, cfg.width, cfg.height)
    pan = rng.normal(0, 0.3, size=2)  # slow camera drift
    label_every = 1 if split == "train" else cfg.val_label_every
    label_offset = 0 if split == "train" else int(rng.randint(label_every))

    images, annotations = [], []
    seq_dir = out / "images" / split / name
    seq_dir.mkdir(parents=True, exist_ok=True)
    for t in range(cfg.frames):
        shift = np.float32([[1, 0, pan[0] * t], [0, 1, pan[1] * t]])
        img = cv2.warpAffine(background, shift, (cfg.width, cfg.height), borderMode=cv2.BORDER_REFLECT)
        poses = [(fig, *fig.pose(t)) for fig in figures]
        for fig, pts, r_head, facing in sorted(poses, key=lambda p: p[0].y0 + p[0].height * 0.5):
            _draw_figure(img, fig, pts, r_head, facing)
        kinds = []
        for occ in occluders:
            rect = occ.rect(t)
            if rect is None:
                continue
            _draw_occluder(img, rect, occ)
            if any(_inside_rect(pts, rect, occ.ellipse).any() for _, pts, _, _ in poses):
                kinds.append("occlusion")
        if rng.rand() < cfg.corrupt_prob:
            if rng.rand() < 0.5:
                img = _motion_blur(img, rng)
                kinds.append("motion_blur")
            else:
                img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(1.6, 3.0)))
                kinds.append("defocus")
        img = np.clip(img + rng.normal(0, 3.0, img.shape), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]
        )
        assert ok
        (seq_dir / f"{t:06d}.jpg").write_bytes(buf.tobytes())

        image_id = 10_000_000_000 + vid * 10_000 + t
        labeled = (t - label_offset) % label_every == 0
        images.append(
            {
                "id": image_id,
                "frame_id": image_id,
                "vid_id": f"{vid:06d}",
                "nframes": cfg.frames,
                "file_name": f"images/{split}/{name}/{t:06d}.jpg",
                "width": cfg.width,
                "height": cfg.height,
                "is_labeled": bool(labeled),
                "has_no_densepose": True,
                "corrupted": bool(kinds),
                "corruption": "+".join(sorted(set(kinds))),
            }
        )
        if not labeled:
            continue
        for fig, pts, r_head, _ in poses:
            inside = (pts[:, 0] >= 0) & (pts[:, 0] <= cfg.width - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= cfg.height - 1)
            for ear in kp.UNANNOTATED_KEYPOINTS:
                inside[K[ear]] = False
            if inside.sum() < 2:
                continue
            kps = []
            for k in range(kp.NUM_KEYPOINTS):
                kps += [round(float(pts[k, 0]), 2), round(float(pts[k, 1]), 2), 1] if inside[k] else [0, 0, 0]
            centre = (pts[K["head_top"]] + pts[K["head_bottom"]]) / 2
            side = 2.3 * r_head
            vis_pts = pts[inside]
            lo, hi = vis_pts.min(0) - 0.08 * fig.height, vis_pts.max(0) + 0.08 * fig.height
            lo, hi = np.maximum(lo, 0), np.minimum(hi, [cfg.width - 1, cfg.height - 1])
            annotations.append(
                {
                    "id": image_id * 100 + fig.track_id,
                    "image_id": image_id,
                    "track_id": fig.track_id,
                    "category_id": 1,
                    "keypoints": kps,
                    "num_keypoints": int(inside.sum()),
                    "bbox": [round(float(v), 2) for v in (lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])],
                    "bbox_head": [round(float(v), 2) for v in (centre[0] - side / 2, centre[1] - side / 2, side, side)],
                    "iscrowd": False,
                    "action": fig.action,
                }
            )
    doc = {
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
    write_json(out / "annotations" / split / f"{name}.json", doc)
    labeled_images = [i for i in images if i["is_labeled"]]
    return {
        "name": name,
        "persons": n_persons,
        "frames": cfg.frames,
        "labeled": len(labeled_images),
        "corrupted_labeled": sum(i["corrupted"] for i in labeled_images),
        "annotations": len(annotations),
    }


# ----------------------------------------------------------------------------------------------------------------
# the synthetic person detector: what the val split is scored with by default, as PoseTrack val is scored with
# DCPose's precomputed detector boxes

DETECTIONS_FILE = "boxes/val_detections.json"  # configs/data/synthetic.yaml `boxes` names it
DET_SCALE_JITTER = 0.08  # std of log(width), log(height) ratios to the GT box (mean IoU with GT 0.83)
DET_SHIFT_JITTER = 0.04  # std of the centre shift, in box widths / heights
DET_MISS_PROB = (0.04, 0.15)  # a person is missed: on a clean frame, on a corrupted one
DET_FALSE_POSITIVES = 0.3  # mean false boxes per frame (Poisson)


def _detections(doc: dict, rng: np.random.RandomState, cfg: SyntheticConfig) -> list[dict]:
    """Detector boxes for the labeled frames of one val sequence, in DCPose's ``val_boxes.json`` format: each GT box
    jittered in scale and shift (its score falls with the error), some persons missed (more on corrupted frames), a
    few false boxes with low scores."""
    persons: dict[int, list[dict]] = {}
    for ann in doc["annotations"]:
        persons.setdefault(ann["image_id"], []).append(ann)
    out = []
    for image in doc["images"]:
        if not image["is_labeled"]:
            continue
        boxes = []
        for ann in persons.get(image["id"], []):
            if rng.rand() < DET_MISS_PROB[int(image["corrupted"])]:
                continue
            x, y, w, h = ann["bbox"]
            log_scale = rng.normal(0, DET_SCALE_JITTER, 2)
            shift = rng.normal(0, DET_SHIFT_JITTER, 2)
            nw, nh = w * math.exp(log_scale[0]), h * math.exp(log_scale[1])
            cx, cy = x + w / 2 + shift[0] * w, y + h / 2 + shift[1] * h
            error = float(np.abs(log_scale).mean() + np.abs(shift).mean())
            score = float(np.clip(0.97 - 2.0 * error + rng.normal(0, 0.04), 0.05, 0.99))
            boxes.append(((cx - nw / 2, cy - nh / 2, nw, nh), score))
        for _ in range(rng.poisson(DET_FALSE_POSITIVES)):
            w, h = rng.uniform(0.1, 0.3) * cfg.width, rng.uniform(0.3, 0.7) * cfg.height
            boxes.append(
                ((rng.uniform(0, cfg.width - w), rng.uniform(0, cfg.height - h), w, h), float(rng.uniform(0.05, 0.6)))
            )
        for box, score in boxes:
            out.append(
                {
                    "image_name": image["file_name"],
                    "bbox": [round(float(v), 2) for v in box],
                    "score": round(score, 4),
                    "category_id": 1,
                    "nframes": image["nframes"],
                    "frame_id": image["frame_id"],
                }
            )
    return out


def generate(out: str | Path, cfg: SyntheticConfig) -> dict:
    """Write the dataset to ``out``: built in a temporary directory beside it, renamed into place when complete, so
    an interrupted run never leaves a half-written dataset."""
    with atomic_dir(out) as tmp:
        summary = {"config": dict(cfg.__dict__), "splits": {}}
        names: dict[str, list[str]] = {}
        for split, count, base in (("train", cfg.train_sequences, 100_000), ("val", cfg.val_sequences, 24_000)):
            seqs = []
            for i in range(count):
                rng = np.random.RandomState([cfg.seed, 0 if split == "train" else 1, i])
                seqs.append(_sequence(rng, cfg, split, base + i, tmp))
            names[split] = [s["name"] for s in seqs]
            summary["splits"][split] = {
                "sequences": len(seqs),
                "frames": sum(s["frames"] for s in seqs),
                "labeled_frames": sum(s["labeled"] for s in seqs),
                "corrupted_labeled_frames": sum(s["corrupted_labeled"] for s in seqs),
                "persons": sum(s["annotations"] for s in seqs),
            }
        # the detector's boxes for val, from a stream of their own (the frames do not depend on them)
        detections = []
        for i, name in enumerate(names["val"]):
            doc = load_json(tmp / "annotations" / "val" / f"{name}.json")
            detections += _detections(doc, np.random.RandomState([cfg.seed, 2, i]), cfg)
        write_json(tmp / DETECTIONS_FILE, detections)
        summary["splits"]["val"]["detections"] = len(detections)
        write_json(tmp / "dataset.json", summary, indent=2)
    return summary


@main_guard
def main(argv: list[str] | None = None) -> None:
    d = SyntheticConfig()
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--out", required=True, help="output directory (replaced)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--train-sequences", type=int, default=d.train_sequences)
    p.add_argument("--val-sequences", type=int, default=d.val_sequences)
    p.add_argument("--frames", type=int, default=d.frames)
    p.add_argument("--width", type=int, default=d.width)
    p.add_argument("--height", type=int, default=d.height)
    p.add_argument("--val-label-every", type=int, default=d.val_label_every)
    p.add_argument("--corrupt-prob", type=float, default=d.corrupt_prob)
    p.add_argument("--max-persons", type=int, default=d.max_persons)
    a = p.parse_args(argv)
    cfg = SyntheticConfig(
        seed=a.seed,
        train_sequences=a.train_sequences,
        val_sequences=a.val_sequences,
        frames=a.frames,
        width=a.width,
        height=a.height,
        val_label_every=a.val_label_every,
        corrupt_prob=a.corrupt_prob,
        max_persons=a.max_persons,
    )
    summary = generate(a.out, cfg)
    for split, s in summary["splits"].items():
        print(
            f"{split}: {s['sequences']} sequences, {s['frames']} frames, {s['labeled_frames']} labeled "
            f"({s['corrupted_labeled_frames']} corrupted), {s['persons']} person annotations"
        )


if __name__ == "__main__":
    main()
