"""Streaming DSTA: feed a video frame by frame; each frame costs one backbone pass per person plus the head.

DSTA's expensive part, the backbone, only ever sees one frame at a time: the joint tokens of frame t do not depend on
the other frames. So the tokens of every tracked person are computed once, when their frame arrives, and cached per
track; the key frame's pose is then aggregated from the cached tokens of frames ``k - h*d .. k + h*d`` (h = T // 2).
Poses therefore come out ``h*d`` frames late; ``flush()`` emits the last ones at the end of the video, with the future
frames clamped to the last one as in clip sampling.

One difference from training-style clip inference: there, every frame of a clip is cropped with the *key frame's*
box; here each frame is cropped once with *its own* box, so its tokens can serve every key frame. With the same box in
every frame (or ``StreamingPose.clip_input`` building the clip from per-frame crops) the two are identical, which is
what the tests check.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from dsta.data import transforms as tf
from dsta.models.dsta import DSTA
from dsta.models.dsta_fused import fuse_head


@dataclass
class TrackPose:
    frame: int  # index of the frame this pose belongs to
    track_id: int
    keypoints: np.ndarray  # (J, 2) image pixels
    scores: np.ndarray  # (J,)
    box: np.ndarray  # x, y, w, h


@dataclass
class _Cached:
    tokens: torch.Tensor  # (J, C)
    center: np.ndarray
    scale: np.ndarray
    box: np.ndarray


class StreamingPose:
    """Frame-by-frame DSTA inference with per-track token caches.

    Args:
        model: a DSTA (run in its inference form, ``fuse_head``: its head fused where that is faster).
        input_size: (width, height) the model was trained with.
        frame_distance: d between the frames of a clip.
        box_enlarge: box padding, as in training.
        device: where the model runs.
    """

    def __init__(
        self,
        model: DSTA,
        input_size: tuple[int, int],
        frame_distance: int = 1,
        box_enlarge: float = 1.25,
        device: torch.device | str = "cpu",
    ) -> None:
        self.model = fuse_head(model.eval().to(device))
        self.device = torch.device(device)
        self.input_size = tuple(int(v) for v in input_size)
        self.distance = int(frame_distance)
        self.half = model.num_frames // 2
        self.pipeline = tf.build_pipeline(self.input_size, train=False, padding=box_enlarge)
        self.cache: dict[int, dict[int, _Cached]] = defaultdict(dict)  # track -> frame -> tokens
        self.present: dict[int, list[int]] = defaultdict(list)  # frame -> tracks in it
        self.t = -1  # index of the last frame pushed
        self.emitted = -1  # last key frame whose poses were returned
        self.backbone_passes = 0

    def crop(self, frame: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The normalized (3, H, W) crop of one person and its centre/scale."""
        res = tf.run_pipeline(self.pipeline, [frame], np.asarray(box, np.float64), np.zeros((17, 2)), np.zeros(17))
        return tf.normalize_clip(res["img"])[0], res["input_center"], res["input_scale"]

    @torch.no_grad()
    def push(self, frame: np.ndarray, boxes: list[tuple[int, np.ndarray]]) -> list[TrackPose]:
        """Add the next frame (RGB) with its ``(track_id, box_xywh)`` list; returns the poses of the frame that now
        has all its future frames (``t - h*d``), or nothing while the first frames fill the window."""
        self.t += 1
        crops, meta = [], []
        for track, box in boxes:
            img, center, scale = self.crop(frame, box)
            crops.append(img)
            meta.append((int(track), center, scale, np.asarray(box, np.float64)))
        if crops:
            tokens = self.model.frame_features(torch.from_numpy(np.stack(crops)).to(self.device))
            self.backbone_passes += len(crops)
            for (track, center, scale, box), tok in zip(meta, tokens):
                self.cache[track][self.t] = _Cached(tok, center, scale, box)
                self.present[self.t].append(track)
        out = []
        while self.emitted + 1 <= self.t - self.half * self.distance:
            self.emitted += 1
            out += self._emit(self.emitted, last=self.t)
        self._prune()
        return out

    @torch.no_grad()
    def flush(self) -> list[TrackPose]:
        """The poses of the frames still waiting for future frames (end of the video)."""
        out = []
        while self.emitted < self.t:
            self.emitted += 1
            out += self._emit(self.emitted, last=self.t)
        return out

    def _neighbour(self, track: int, index: int) -> _Cached:
        """The cached frame of ``track`` nearest to ``index`` (clamping at the ends of the track)."""
        frames = self.cache[track]
        if index in frames:
            return frames[index]
        return frames[min(frames, key=lambda f: (abs(f - index), f))]

    def _emit(self, key: int, last: int) -> list[TrackPose]:
        tracks = self.present.get(key, [])
        if not tracks:
            return []
        clips = []
        for track in tracks:
            idx = [min(max(key + k * self.distance, 0), last) for k in range(-self.half, self.half + 1)]
            clips.append(torch.stack([self._neighbour(track, i).tokens for i in idx]))
        out = self.model.aggregate_frames(torch.stack(clips))
        coords = out.coords.double().cpu().numpy() * np.array(self.input_size, dtype=np.float64)
        scores = out.score.cpu().numpy()
        poses = []
        for n, track in enumerate(tracks):
            c = self.cache[track][key]
            xy = tf.crop_to_image(coords[n], c.center, c.scale, 0.0, self.input_size)
            poses.append(TrackPose(frame=key, track_id=track, keypoints=xy, scores=scores[n], box=c.box))
        return poses

    def _prune(self) -> None:
        """Forget frames no future key frame can reach. Of a track's frames before the horizon only the newest is
        kept: it is the nearest stand-in for any clamped or missing past frame, so results do not change."""
        horizon = self.emitted + 1 - self.half * self.distance
        for frames in self.cache.values():
            below = sorted(f for f in frames if f < horizon)
            for f in below[:-1]:
                del frames[f]
        for f in [f for f in self.present if f <= self.emitted]:
            del self.present[f]
