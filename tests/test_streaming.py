import numpy as np
import torch

from dsta.data.clips import clip_indices
from dsta.models.dsta import DSTA
from dsta.streaming import StreamingPose


def _video(n=7, h=96, w=128, seed=0):
    rng = np.random.RandomState(seed)
    return [rng.randint(0, 255, size=(h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_streaming_equals_clip_inference():
    torch.manual_seed(0)
    model = DSTA("resnet18", num_frames=5, embed_dim=16, depth=1, num_heads=4).eval()
    frames = _video()
    boxes = {0: np.array([10.0, 10.0, 50.0, 70.0]), 1: np.array([60.0, 20.0, 40.0, 60.0])}
    stream = StreamingPose(model, (48, 64))
    got = []
    for t, frame in enumerate(frames):
        tracks = [(k, b) for k, b in boxes.items() if not (k == 1 and t == 0)]  # track 1 appears at frame 1
        got += stream.push(frame, tracks)
    got += stream.flush()
    assert stream.backbone_passes == 2 * len(frames) - 1  # one pass per person per frame
    assert sorted((p.frame, p.track_id) for p in got) == sorted(
        (t, k) for t in range(len(frames)) for k in boxes if not (k == 1 and t == 0)
    )

    for pose in got:
        first = 1 if pose.track_id == 1 else 0
        idx = [max(i, first) for i in clip_indices(pose.frame, len(frames), 5, 1)]
        crops = [stream.crop(frames[i], boxes[pose.track_id])[0] for i in idx]
        with torch.no_grad():
            out = model(torch.from_numpy(np.stack(crops))[None])
        center, scale = stream.crop(frames[pose.frame], boxes[pose.track_id])[1:]
        from dsta.data.transforms import crop_to_image

        ref = crop_to_image(out.coords[0].double().numpy() * [48, 64], center, scale, 0.0, (48, 64))
        assert np.abs(pose.keypoints - ref).max() < 1e-3
        assert np.abs(pose.scores - out.score[0].numpy()).max() < 1e-5


def test_poses_come_h_frames_late():
    model = DSTA("resnet18", num_frames=3, embed_dim=16, depth=1, num_heads=4)
    stream = StreamingPose(model, (48, 64))
    frames = _video(3)
    assert stream.push(frames[0], [(0, np.array([10.0, 10, 50, 70]))]) == []
    out = stream.push(frames[1], [(0, np.array([10.0, 10, 50, 70]))])
    assert [p.frame for p in out] == [0]
    assert len(stream.cache[0]) <= 3
