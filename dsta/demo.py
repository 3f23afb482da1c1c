"""Stream DSTA over a video frame by frame: its skeletons drawn on the frames, its poses written, its time per frame.

``python -m dsta.demo --frames DIR_OR_VIDEO --boxes JSON --checkpoint CKPT [--out FILE.gif|mp4] [--poses FILE.json]``

The checkpoint gives the input size and the frame distance (its training config); each frame costs one backbone pass
per person plus the head (``dsta.streaming``), and the command ends with the median time per frame. ``--poses`` writes
``{"poses": [{frame, track_id, keypoints [[x, y], ...], scores, box}, ...]}`` in image pixels.

``--boxes`` is ``{"boxes": [{"frame": i, "track_id": k, "bbox": [x, y, w, h]}, ...]}`` (frames numbered from 0 in
file-name order, or in video order), or a PoseTrack18 annotation file of the same video (its ``bbox`` and
``track_id``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from dsta.core.configs import DEFAULT_INPUT_SIZE
from dsta.core.errors import DataError, doc_summary, main_guard
from dsta.core.io import atomic_path, check_out_file, load_json, write_json
from dsta.data.dataset import read_image
from dsta.data.draw import draw_pose, track_color
from dsta.models import load_checkpoint, read_checkpoint
from dsta.nn.checkpoint import add_trust_argument
from dsta.streaming import StreamingPose

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def read_frames(source: str | Path) -> list[np.ndarray]:
    """RGB frames of a directory of images (sorted by name) or of a video file."""
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(source, None, "no .jpg/.png frames in this directory")
        frames = []
        return [read_image(f) for f in files]
    if not source.is_file():
        raise DataError(source, None, "no such video or directory")
    cap = cv2.VideoCapture(str(source))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    if not frames:
        raise DataError(source, None, "cannot read any frame of this video")
    return frames


def read_boxes(path: str | Path) -> dict[int, list[tuple[int, np.ndarray]]]:
    """frame index -> [(track_id, box)]."""
    path = Path(path)
    data = load_json(path)
    out: dict[int, list] = defaultdict(list)
    if isinstance(data, dict) and "images" in data and "annotations" in data:
        index = {img["id"]: i for i, img in enumerate(data["images"])}
        for j, ann in enumerate(data["annotations"]):
            if ann.get("bbox") and ann.get("image_id") in index:
                out[index[ann["image_id"]]].append((int(ann.get("track_id", j)), np.array(ann["bbox"], float)))
        return out
    if not isinstance(data, dict) or not isinstance(data.get("boxes"), list):
        raise DataError(path, "boxes", "expected {'boxes': [{frame, track_id, bbox}, ...]} or PoseTrack18 JSON")
    for i, entry in enumerate(data["boxes"]):
        try:
            box = np.array(entry["bbox"], dtype=float)
            frame, track = int(entry["frame"]), int(entry["track_id"])
        except (KeyError, TypeError, ValueError):
            raise DataError(path, f"boxes[{i}]", "needs frame, track_id and bbox [x, y, w, h]") from None
        if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= 0 or box[3] <= 0:
            raise DataError(
                path, f"boxes[{i}].bbox", f"expected a finite [x, y, w, h] with w, h > 0, got {entry['bbox']}"
            )
        out[frame].append((track, box))
    return out


# More than this fraction of the boxes on frames that do not exist or outside their frame is an error (a box file of
# another video, or frames numbered from 1); below it they are counted on stderr and skipped.
BOX_LIMIT = 0.25


def check_boxes(boxes: dict[int, list], frames: list[np.ndarray], path: str | Path) -> None:
    """Count boxes for frame numbers the video does not have and boxes outside their frame; refuse past
    ``BOX_LIMIT`` (no box at all on an existing frame included), so the demo never writes a video without a
    skeleton for a box file that does not belong to it."""
    h, w = frames[0].shape[:2]
    total = sum(len(v) for v in boxes.values())
    missing = sum(len(v) for t, v in boxes.items() if not 0 <= t < len(frames))
    outside = sum(
        1
        for t, v in boxes.items()
        if 0 <= t < len(frames)
        for _, b in v
        if b[0] >= w or b[1] >= h or b[0] + b[2] <= 0 or b[1] + b[3] <= 0
    )
    if total == 0 or missing + outside > BOX_LIMIT * total:
        frames_named = sorted(boxes)
        raise DataError(
            path,
            "boxes",
            f"{missing} of {total} boxes are for frames the video does not have (it has "
            f"{len(frames)}: 0..{len(frames) - 1}; the file names "
            f"{frames_named[:1] + frames_named[-1:]}), {outside} lie outside the "
            f"{w}x{h} frame",
        )
    if missing or outside:
        print(
            f"{path}: skipped {missing} boxes for frames the video does not have and {outside} outside the frame "
            f"(of {total})",
            file=sys.stderr,
        )
    for t in [t for t in boxes if not 0 <= t < len(frames)]:
        del boxes[t]


def write_animation(frames: list[np.ndarray], out: str | Path, fps: float = 10.0) -> None:
    out = Path(out)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".gif":
            from PIL import Image

            imgs = [Image.fromarray(f) for f in frames]
            imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], duration=int(1000 / fps), loop=0)
        elif out.suffix.lower() == ".mp4":
            h, w = frames[0].shape[:2]
            tmp_mp4 = tmp.with_suffix(".mp4")
            writer = cv2.VideoWriter(str(tmp_mp4), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            for f in frames:
                writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
            writer.release()
            tmp_mp4.replace(tmp)
        else:
            raise DataError(out, None, "output must end in .gif or .mp4")


@dataclass
class Streamed:
    """What streaming a video gave: the frames with skeletons, the poses, each frame's time and the setting."""

    drawn: list[np.ndarray]
    poses: list
    seconds: list[float]  # per pushed frame (with the last ones' flush counted on the last frame)
    input_size: tuple[int, int]
    frame_distance: int
    device: str


def run(
    frames: list[np.ndarray], boxes: dict, checkpoint: str | Path, threshold: float = 0.0, trust: bool = False
) -> Streamed:
    ckpt = read_checkpoint(checkpoint, trust)
    if ckpt["model"] != "dsta":
        raise DataError(checkpoint, "model", f"the demo streams DSTA checkpoints, got {ckpt['model']!r}")
    data = ckpt.get("config", {}).get("data", {})
    device = "cuda" if torch.cuda.is_available() else "cpu"
    input_size = tuple(data.get("input_size", DEFAULT_INPUT_SIZE))
    distance = int(data.get("frame_distance", 1))
    stream = StreamingPose(
        load_checkpoint(checkpoint, trust),
        input_size,
        frame_distance=distance,
        box_enlarge=float(data.get("box_enlarge", 1.25)),
        device=device,
    )
    poses, seconds = [], []
    for t, frame in enumerate(frames):
        start = time.perf_counter()
        poses += stream.push(frame, boxes.get(t, []))
        if t == len(frames) - 1:
            poses += stream.flush()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    drawn = [f.copy() for f in frames]
    for p in poses:
        draw_pose(
            drawn[p.frame],
            p.keypoints,
            p.scores,
            track_color(p.track_id),
            threshold,
            thickness=max(1, frames[0].shape[0] // 240),
        )
    return Streamed(drawn, poses, seconds, (int(input_size[0]), int(input_size[1])), distance, device)


def poses_json(poses: list) -> dict:
    """The streamed poses as JSON data (image pixels)."""
    return {
        "poses": [
            {
                "frame": p.frame,
                "track_id": int(p.track_id),
                "keypoints": np.round(p.keypoints, 2).tolist(),
                "scores": np.round(p.scores, 4).tolist(),
                "box": np.round(p.box, 2).tolist(),
            }
            for p in sorted(poses, key=lambda p: (p.frame, p.track_id))
        ]
    }


@main_guard
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--frames", required=True, help="directory of frames or a video file")
    p.add_argument("--boxes", required=True, help="person boxes with track ids (JSON)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", help="the skeleton video to write (.gif or .mp4)")
    p.add_argument("--poses", help="the poses to write (.json)")
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--threshold", type=float, default=0.0, help="hide joints scoring below this")
    add_trust_argument(p)
    a = p.parse_args(argv)
    if not a.out and not a.poses:
        p.error("nothing to write: give --out (a skeleton video) and/or --poses (a JSON file)")
    if a.out and Path(a.out).suffix.lower() not in (".gif", ".mp4"):
        raise DataError(a.out, None, "output must end in .gif or .mp4")
    for path, flag in ((a.out, "--out"), (a.poses, "--poses")):
        if path:
            check_out_file(path, flag)
    if not a.fps > 0:
        raise DataError(None, "--fps", f"must be > 0, got {a.fps}")
    frames = read_frames(a.frames)
    boxes = read_boxes(a.boxes)
    check_boxes(boxes, frames, a.boxes)
    bare = [t for t in range(len(frames)) if not boxes.get(t)]
    if bare:  # a PoseTrack val file labels every k-th frame only: say so, rather than a video that blinks
        print(
            f"{a.boxes}: {len(bare)} of {len(frames)} frames have no box (e.g. frame {bare[0]}); they get no skeleton",
            file=sys.stderr,
        )
    streamed = run(frames, boxes, a.checkpoint, a.threshold, a.trust_checkpoint)
    written = []
    if a.out:
        write_animation(streamed.drawn, a.out, a.fps)
        written.append(f"{a.out} ({len(streamed.drawn)} frames)")
    if a.poses:
        write_json(a.poses, poses_json(streamed.poses), indent=1)
        written.append(f"{a.poses} ({len(streamed.poses)} poses)")
    ms = 1e3 * np.asarray(streamed.seconds)
    w, h = streamed.input_size
    print(
        f"wrote {' and '.join(written)}; streamed at {h}x{w} input (height x width), frame distance "
        f"{streamed.frame_distance} (the checkpoint's): {np.median(ms):.1f} ms per frame (median; 90th percentile "
        f"{np.percentile(ms, 90):.1f}) on {streamed.device}, the first frames' warm-up included"
    )


if __name__ == "__main__":
    main()
