import hashlib
import json

import numpy as np
import pytest

from dsta.core import keypoints as kp
from dsta.core.errors import DataError
from dsta.data import posetrack as pt
from dsta.data.synthetic import SyntheticConfig, generate, main


def _digest(root):
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def test_deterministic_per_seed(tmp_path):
    cfg = SyntheticConfig(train_sequences=2, val_sequences=1, frames=5, seed=7)
    generate(tmp_path / "a", cfg)
    generate(tmp_path / "b", cfg)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    generate(tmp_path / "c", SyntheticConfig(train_sequences=2, val_sequences=1, frames=5, seed=8))
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_posetrack18_format_names_flags_and_heads(synthetic_tiny):
    seqs = pt.read_split(synthetic_tiny / "annotations" / "val")
    assert len(seqs) == 2
    for seq in seqs:
        assert seq.format == "posetrack18"
        assert seq.name.endswith("_mpii_test") and len(seq.name.split("_")[0]) == 6
        for frame in seq.frames:
            assert (synthetic_tiny / frame.file_name).is_file()
            assert "corrupted" in frame.flags
            # a corrupted frame also says how (the report's qualitative caption names it); a clean one has no kind
            assert bool(frame.flags.get("corruption")) == frame.flags["corrupted"]
            if not frame.is_labeled:
                assert not frame.persons
            for person in frame.persons:
                assert person.head_box is not None and person.box is not None
                assert person.visible[[kp.KEYPOINT_INDEX[e] for e in kp.UNANNOTATED_KEYPOINTS]].sum() == 0
                # annotated keypoints lie inside the image
                pts = person.keypoints[person.visible > 0]
                assert (pts >= 0).all() and (pts[:, 0] <= frame.width - 1).all()
    labeled = [f.is_labeled for s in seqs for f in s.frames]
    assert 0 < sum(labeled) < len(labeled)  # val labels a subset of frames
    summary = json.loads((synthetic_tiny / "dataset.json").read_text())
    assert summary["splits"]["val"]["sequences"] == 2


def test_some_frames_are_corrupted_and_flagged(tmp_path):
    summary = generate(
        tmp_path / "ds", SyntheticConfig(train_sequences=4, val_sequences=1, frames=10, corrupt_prob=0.5)
    )
    s = summary["splits"]["train"]
    assert 0 < s["corrupted_labeled_frames"] < s["labeled_frames"]


def test_motion_is_smooth(synthetic_tiny):
    """A figure moves a little between consecutive frames: neighbouring frames carry information."""
    seq = pt.read_split(synthetic_tiny / "annotations" / "train")[0]
    f0, f1 = seq.frames[0], seq.frames[1]
    by_track = {p.track_id: p for p in f1.persons}
    for p in f0.persons:
        q = by_track.get(p.track_id)
        if q is None:
            continue
        both = (p.visible > 0) & (q.visible > 0)
        step = np.linalg.norm(p.keypoints[both] - q.keypoints[both], axis=1)
        height = p.box[3]
        assert step.max() < 0.35 * height


def test_bad_config_and_cli(tmp_path, capsys):
    with pytest.raises(DataError, match="synthetic.frames"):
        SyntheticConfig(frames=0)
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "x"), "--corrupt-prob", "2"])
    assert "synthetic.corrupt_prob" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_bytes_do_not_depend_on_the_cpus_simd(tmp_path):
    """The same seed gives the same bytes whichever SIMD kernels OpenCV may dispatch to and whichever IPP path it
    takes: a child process restricted to the SSE3 baseline (OPENCV_CPU_DISABLE, OPENCV_IPP=sse42, as on a CPU
    without AVX) writes the files this process writes (on this AVX-512 machine)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import cv2

    cfg = dict(train_sequences=1, val_sequences=2, frames=6, seed=3, corrupt_prob=0.5)
    generate(tmp_path / "here", SyntheticConfig(**cfg))
    assert cv2.useOptimized()  # restored after generating
    env = {**os.environ, "OPENCV_CPU_DISABLE": "AVX2,FP16,AVX,SSE4_2,SSE4_1", "OPENCV_IPP": "sse42"}
    code = (
        f"from dsta.data.synthetic import SyntheticConfig, generate; "
        f"generate({str(tmp_path / 'baseline')!r}, SyntheticConfig(**{cfg!r}))"
    )
    subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1]
    )
    here, there = (
        sorted(p.relative_to(tmp_path / d) for p in (tmp_path / d).rglob("*.jpg")) for d in ("here", "baseline")
    )
    assert here == there and len(here) == 18
    assert all((tmp_path / "here" / p).read_bytes() == (tmp_path / "baseline" / p).read_bytes() for p in here)


def test_detector_boxes_are_seeded_readable_and_imperfect(tmp_path):
    """The synthetic detector: DCPose's format, read by the --boxes path; GT boxes jittered, some missed, some false."""
    import json

    from dsta.data.dataset import TopDownClipDataset
    from dsta.data.synthetic import DETECTIONS_FILE, SyntheticConfig, generate

    cfg = SyntheticConfig(train_sequences=1, val_sequences=4, frames=8, seed=3)
    a, b = generate(tmp_path / "a", cfg), generate(tmp_path / "b", cfg)
    assert (tmp_path / "a" / DETECTIONS_FILE).read_bytes() == (tmp_path / "b" / DETECTIONS_FILE).read_bytes()
    dets = json.loads((tmp_path / "a" / DETECTIONS_FILE).read_text())
    assert a == b and a["splits"]["val"]["detections"] == len(dets)
    assert {"image_name", "bbox", "score", "category_id", "nframes", "frame_id"} <= set(dets[0])
    assert all(0 < d["score"] < 1 and d["bbox"][2] > 0 and d["bbox"][3] > 0 for d in dets)
    ds = TopDownClipDataset(
        tmp_path / "a" / "annotations" / "val",
        tmp_path / "a",
        num_frames=1,
        boxes=str(tmp_path / "a" / DETECTIONS_FILE),
    )
    gt = TopDownClipDataset(tmp_path / "a" / "annotations" / "val", tmp_path / "a", num_frames=1)
    assert len(ds.samples) == len(dets)
    gt_boxes = {(s.seq, s.frame): [] for s in gt.samples}
    for s in gt.samples:
        gt_boxes[(s.seq, s.frame)].append(s.box)
    assert not any(any(np.allclose(d.box, g) for g in gt_boxes.get((d.seq, d.frame), [])) for d in ds.samples)
    assert len({round(d.box_score, 4) for d in ds.samples}) > len(ds.samples) // 2  # scores spread, few ties
