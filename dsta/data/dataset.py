"""The top-down clip dataset: one sample per (labeled key frame, person box), with T frames around it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from dsta.core import keypoints as kp
from dsta.core.configs import DEFAULT_INPUT_SIZE, GT_BOXES, check_num_frames
from dsta.core.errors import DataError
from dsta.data import transforms as tf
from dsta.data.clips import clip_indices, sample_distance
from dsta.data.posetrack import Sequence, box_from_keypoints, clip_box, join_detections, read_detections, read_split
from dsta.data.transforms import AugmentConfig

cv2.setNumThreads(0)  # the DataLoader workers are the parallelism; OpenCV's own threads only contend with them


@dataclass(frozen=True)
class Sample:
    seq: int  # index into the dataset's sequences
    frame: int  # key frame index inside the sequence
    box: np.ndarray  # x, y, w, h
    box_score: float
    person: int  # index into frame.persons, or -1 for a detected box


JPEG_EOI = b"\xff\xd9"  # the end-of-image marker every complete JPEG ends with
PNG_IEND = b"IEND\xaeB`\x82"  # the last chunk (type and CRC) of every complete PNG


def decode_image(data: bytes, path: Path) -> np.ndarray:
    """Decode an encoded image to RGB uint8; a truncated or undecodable file is a DataError naming it.

    libjpeg (through OpenCV and PIL alike) decodes a truncated JPEG with only a "Premature end of JPEG file" warning
    on stderr and grey rows for the rest, which would silently move a score. So the file must end in its format's
    end marker (JPEG EOI, PNG IEND; trailing zero padding allowed) before it is decoded. Damage *inside* the coded
    data that libjpeg repairs with a warning ("Corrupt JPEG data") is not detected."""
    head, tail = data[:8], data.rstrip(b"\x00")[-32:]
    if head.startswith(b"\xff\xd8") and JPEG_EOI not in tail:
        raise DataError(path, "file_name", f"truncated JPEG ({len(data)} bytes, no end-of-image marker)")
    if head.startswith(b"\x89PNG") and PNG_IEND not in tail:
        raise DataError(path, "file_name", f"truncated PNG ({len(data)} bytes, no IEND chunk)")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(path, "file_name", "cannot decode image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_image(path: Path) -> np.ndarray:
    """An RGB uint8 image; a missing, truncated or undecodable file is a DataError naming it (``decode_image``)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file_name", "image not found") from None
    except IsADirectoryError:
        raise DataError(path, "file_name", "a directory, not an image") from None
    return decode_image(data, Path(path))


class TopDownClipDataset(Dataset):
    """PoseTrack17/18/21 (or the synthetic set) as top-down clips.

    Args:
        ann_dir: directory of per-sequence annotation files.
        image_root: directory the files' ``file_name`` entries are relative to.
        num_frames: T (odd); 1 gives single-frame samples.
        input_size: (width, height) of the network input.
        train: random augmentation and random frame distance.
        frame_distance: d at evaluation; in training the maximum distance d_max.
        target: ``"regression"`` (normalized coordinates + weights) or ``"heatmap"`` (mmpose MSRA codec).
        heatmap_size: (width, height) of heatmaps, for ``target="heatmap"``.
        heatmap_sigma: Gaussian sigma of heatmap targets.
        boxes: ``"gt"`` or a detection file (DCPose's ``image_name`` format or COCO results; ``dsta.data.posetrack.
            read_detections``); ``detections`` then says how many boxes matched a frame and how many did not.
        box_score_threshold: detections below this score are dropped.
        box_enlarge: box padding factor (1.25 as DCPose/DSTA).
        gt_boxes: the boxes of annotated people (training, and evaluation with ``boxes="gt"``): ``"given"``, the
            file's ``bbox`` as it stands (else one around the keypoints, ``box_from_keypoints``); ``"clipped"``, the
            file's ``bbox`` clipped to the image as the releases clip theirs (``dsta.data.posetrack.clip_box``;
            people with nothing left inside are dropped). A person whose file gives no ``bbox``, or whose frame no
            image size, keeps the ``given`` box; ``unclipped_boxes`` counts them (PoseTrack17's ``annolist`` files
            carry neither: the release's PoseTrack17 boxes come from DCPose's COCO-style training JSON).
        min_keypoints: training persons need at least this many annotated keypoints.
        augment: augmentation parameters.
        seed: base seed; sample i of epoch e always gets the same augmentation and distances.
    """

    def __init__(
        self,
        ann_dir: str | Path,
        image_root: str | Path,
        num_frames: int = 3,
        input_size: Seq[int] = DEFAULT_INPUT_SIZE,
        train: bool = False,
        frame_distance: int = 1,
        target: str = "regression",
        heatmap_size: Seq[int] | None = None,
        heatmap_sigma: float = 2.0,
        boxes: str = "gt",
        box_score_threshold: float = 0.0,
        box_enlarge: float = 1.25,
        min_keypoints: int = 1,
        augment: tf.AugmentConfig | None = None,
        seed: int = 0,
        gt_boxes: str = "given",
    ) -> None:
        self.num_frames = check_num_frames(num_frames, "data.num_frames")
        if gt_boxes not in GT_BOXES:
            raise DataError(None, "data.gt_boxes", f"must be one of {list(GT_BOXES)}, got {gt_boxes!r}")
        self.gt_boxes = gt_boxes
        self.unclipped_boxes = 0
        if len(input_size) != 2 or min(input_size) <= 0:
            raise DataError(None, "data.input_size", f"expected [width, height] > 0, got {list(input_size)}")
        if target not in ("regression", "heatmap"):
            raise DataError(None, "model.target", f"must be 'regression' or 'heatmap', got {target!r}")
        if frame_distance < 1:
            raise DataError(None, "data.frame_distance", f"must be >= 1, got {frame_distance}")
        self.image_root = Path(image_root)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.train = train
        self.frame_distance = int(frame_distance)
        self.target = target
        self.seed = int(seed)
        self.epoch = 0
        # (image, file_name, box, is_key) -> image, applied to each full frame before cropping (dsta.data.corrupt)
        self.frame_transform = None
        self.sequences: list[Sequence] = read_split(ann_dir)
        self.pipeline = tf.build_pipeline(self.input_size, train, augment, padding=box_enlarge)
        self.codec = None
        if target == "heatmap":
            if heatmap_size is None:
                heatmap_size = (self.input_size[0] // 4, self.input_size[1] // 4)
            self.codec = tf.heatmap_codec(self.input_size, tuple(heatmap_size), heatmap_sigma)
        self.samples = self._build_samples(boxes, box_score_threshold, min_keypoints)

    def _build_samples(self, boxes: str, threshold: float, min_keypoints: int) -> list[Sample]:
        detections = None
        self.detections = None
        if boxes != "gt":
            self.detections = join_detections(read_detections(boxes, threshold), self.sequences, boxes)
            detections = self.detections.by_image
        samples = []
        for s, seq in enumerate(self.sequences):
            for f, frame in enumerate(seq.frames):
                if not frame.is_labeled:
                    continue
                if detections is not None:
                    for det in detections.get(frame.image_id, []):
                        samples.append(Sample(s, f, det.box, det.score, -1))
                    continue
                for p, person in enumerate(frame.persons):
                    if person.num_keypoints < min_keypoints:
                        continue
                    box = person.box if person.box is not None else box_from_keypoints(person.keypoints, person.visible)
                    if box is None:
                        continue
                    if self.gt_boxes == "clipped":
                        if person.box is None or frame.width is None or frame.height is None:
                            self.unclipped_boxes += 1
                        else:
                            box = clip_box(person.box, frame.width, frame.height)
                            if box is None:
                                continue
                    samples.append(Sample(s, f, box, 1.0, p))
        return samples

    def set_epoch(self, epoch: int) -> None:
        """Training draws depend on (seed, epoch, index) only, so resumed runs repeat them exactly."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def _rng(self, index: int) -> np.random.RandomState:
        digest = hashlib.blake2b(f"{self.seed}:{self.epoch}:{index}".encode(), digest_size=4).digest()
        return np.random.RandomState(int.from_bytes(digest, "little"))

    def clip_frames(self, index: int, rng: np.random.RandomState | None = None) -> list[int]:
        sample = self.samples[index]
        seq = self.sequences[sample.seq]
        distance = (
            sample_distance(rng, self.frame_distance) if (self.train and rng is not None) else self.frame_distance
        )
        return clip_indices(sample.frame, len(seq.frames), self.num_frames, distance)

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        seq = self.sequences[sample.seq]
        frame = seq.frames[sample.frame]
        rng = self._rng(index) if self.train else None
        indices = self.clip_frames(index, rng)
        images = [read_image(self.image_root / seq.frames[i].file_name) for i in indices]
        if self.frame_transform is not None:
            images = [
                self.frame_transform(img, seq.frames[i].file_name, sample.box, i == sample.frame)
                for img, i in zip(images, indices)
            ]
        if sample.person >= 0:
            person = frame.persons[sample.person]
            keypoints, visible, track_id = person.keypoints, person.visible, person.track_id
        else:
            keypoints = np.zeros((kp.NUM_KEYPOINTS, 2))
            visible = np.zeros(kp.NUM_KEYPOINTS, np.float32)
            track_id = -1
        if rng is not None:
            # mmpose's random transforms draw from numpy's global generator; seed it from this sample's stream.
            np.random.seed(rng.randint(0, 2**31 - 1))
        results = tf.run_pipeline(self.pipeline, images, sample.box, keypoints, visible)
        crop_kpts = results["transformed_keypoints"][0]
        vis = results["keypoints_visible"][0]
        item = {
            "image": torch.from_numpy(tf.normalize_clip(results["img"])),
            "center": torch.as_tensor(results["input_center"], dtype=torch.float64),
            "scale": torch.as_tensor(results["input_scale"], dtype=torch.float64),
            "rotation": torch.tensor(float(results.get("bbox_rotation", np.zeros(1))[0]), dtype=torch.float64),
            "flipped": torch.tensor(bool(results.get("flip", False))),
            "box_score": torch.tensor(sample.box_score, dtype=torch.float32),
            "image_id": torch.tensor(frame.image_id, dtype=torch.int64),
            "track_id": torch.tensor(track_id, dtype=torch.int64),
            "index": torch.tensor(index, dtype=torch.int64),
            "corrupted": torch.tensor(bool(frame.flags.get("corrupted", False))),
        }
        target, weight = tf.regression_target(crop_kpts, vis, self.input_size)
        item["coords"] = torch.from_numpy(target)
        item["coord_weight"] = torch.from_numpy(weight)
        if self.codec is not None:
            enc = self.codec.encode(crop_kpts[None], vis[None])
            item["heatmap"] = torch.from_numpy(enc["heatmaps"].astype(np.float32))
            hm_weight = enc["keypoint_weights"][0].astype(np.float32) * np.asarray(kp.JOINT_LOSS_WEIGHTS, np.float32)
            item["heatmap_weight"] = torch.from_numpy(hm_weight)
        return item


def make_dataset(
    data: dict,
    num_frames: int,
    target: str,
    data_root: str | Path,
    split: str,
    train: bool,
    seed: int = 0,
    boxes: str | None = None,
    heatmap: dict | None = None,
) -> TopDownClipDataset:
    """The dataset described by a ``data`` config section (see ``configs/data``) under ``data_root``.

    Args:
        split: ``"train"`` or ``"val"``; reads ``data[f"{split}_ann"]`` (relative to ``data_root``).
        boxes: ``"gt"`` or a detection file; defaults to ``data["boxes"]`` (val) and GT boxes in training.
            ``"auto"``: the configured file when it exists, else GT boxes (the per-epoch validation of training).
        heatmap: ``{"size": [w, h], "sigma": s}`` for heatmap targets.
    """
    root = Path(data_root)
    ann = root / data[f"{split}_ann"]
    auto = boxes == "auto"
    if boxes is None or auto:
        boxes = "gt" if train else (data.get("boxes") or "gt")
    if boxes != "gt" and not Path(boxes).is_absolute():
        boxes = str(root / boxes) if (root / boxes).exists() else boxes
    if boxes != "gt" and not Path(boxes).is_file():
        if auto:
            boxes = "gt"
        else:
            raise DataError(
                boxes,
                "data.boxes",
                "detection file not found (put DCPose's val_boxes.json in the "
                "release before `prepare`, or evaluate with boxes: gt)",
            )
    aug = AugmentConfig(**data["augment"]) if train and data.get("augment") else None
    return TopDownClipDataset(
        ann,
        root / data.get("image_root", "."),
        num_frames=num_frames,
        input_size=tuple(data["input_size"]),
        train=train,
        frame_distance=int(data["max_frame_distance"] if train else data["frame_distance"]),
        target=target,
        heatmap_size=tuple(heatmap["size"]) if heatmap else None,
        heatmap_sigma=float(heatmap["sigma"]) if heatmap else 2.0,
        boxes=boxes,
        box_score_threshold=float(data.get("box_score_threshold", 0.0)),
        box_enlarge=float(data["box_enlarge"]),
        augment=aug,
        seed=seed,
        **({"gt_boxes": data["gt_boxes"]} if "gt_boxes" in data else {}),
    )
