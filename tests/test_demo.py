from pathlib import Path

import pytest
from PIL import Image

from dsta.core.errors import DataError
from dsta.demo import main, read_boxes
from dsta.models import create_model, save_checkpoint
from tests.conftest import SHARED

VIDEO = SHARED / "posetrack18-sample" / "videos" / "000001_mpiinew_test"
BOXES = Path(__file__).parent / "data" / "sample_video_boxes.json"


@pytest.fixture
def checkpoint(tmp_path):
    kwargs = dict(backbone="resnet18", num_frames=3, embed_dim=16, depth=1, num_heads=4)
    path = tmp_path / "dsta.pt"
    save_checkpoint(
        path,
        "dsta",
        kwargs,
        create_model("dsta", **kwargs),
        config={"data": {"input_size": [48, 64], "frame_distance": 1, "box_enlarge": 1.25}},
    )
    return path


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_demo_on_the_sample_video(tmp_path, checkpoint, suffix):
    out = tmp_path / f"demo{suffix}"
    main(["--frames", str(VIDEO), "--boxes", str(BOXES), "--checkpoint", str(checkpoint), "--out", str(out)])
    assert out.stat().st_size > 0
    if suffix == ".gif":
        with Image.open(out) as im:
            assert im.n_frames == 5 and im.size == (1280, 720)


def test_demo_from_the_video_file(tmp_path, checkpoint):
    out = tmp_path / "demo.gif"
    main(
        [
            "--frames",
            str(VIDEO / "000001_mpiinew_test.mp4"),
            "--boxes",
            str(BOXES),
            "--checkpoint",
            str(checkpoint),
            "--out",
            str(out),
        ]
    )
    assert out.is_file()


def test_bad_boxes(tmp_path):
    bad = tmp_path / "b.json"
    bad.write_text('{"boxes": [{"frame": 0, "track_id": 1, "bbox": [0, 0, -5, 5]}]}')
    with pytest.raises(DataError, match=r"boxes\[0\].bbox"):
        read_boxes(bad)


# -- issue 22: no video without skeletons, no partial frame -----------------------------------------------------------
def test_boxes_for_frames_the_video_does_not_have_are_refused(tmp_path, checkpoint, capsys):
    import json

    boxes = tmp_path / "boxes.json"
    boxes.write_text(
        json.dumps({"boxes": [{"frame": 50 + i, "track_id": 0, "bbox": [10, 10, 100, 200]} for i in range(5)]})
    )
    out = tmp_path / "demo.gif"
    with pytest.raises(SystemExit):
        main(["--frames", str(VIDEO), "--boxes", str(boxes), "--checkpoint", str(checkpoint), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {boxes}: boxes: 5 of 5 boxes are for frames the video does not have")
    assert not out.exists()


def test_truncated_frame_is_an_error_naming_it(tmp_path, checkpoint, capsys):
    import shutil

    frames = tmp_path / "frames"
    frames.mkdir()
    for f in sorted(VIDEO.glob("*.jpg")):
        shutil.copy(f, frames / f.name)
    victim = sorted(frames.glob("*.jpg"))[2]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
    out = tmp_path / "demo.gif"
    out.write_bytes(b"GIF89a an earlier demo")
    with pytest.raises(SystemExit):
        main(["--frames", str(frames), "--boxes", str(BOXES), "--checkpoint", str(checkpoint), "--out", str(out)])
    assert capsys.readouterr().err.strip().startswith(f"error: {victim}: file_name: truncated JPEG")
    assert out.read_bytes() == b"GIF89a an earlier demo"


def test_streaming_writes_poses_and_its_time_per_frame(tmp_path, checkpoint, capsys):
    """The streaming command: poses written (one per box, every frame of the sample video), the checkpoint's input
    size and frame distance and the time per frame said at the end; nothing to write is a usage error."""
    import json

    poses = tmp_path / "poses.json"
    main(["--frames", str(VIDEO), "--boxes", str(BOXES), "--checkpoint", str(checkpoint), "--poses", str(poses)])
    doc = json.loads(poses.read_text())
    boxes = read_boxes(BOXES)
    assert len(doc["poses"]) == sum(len(v) for v in boxes.values())
    first = doc["poses"][0]
    assert len(first["keypoints"]) == 17 and len(first["scores"]) == 17 and len(first["box"]) == 4
    said = capsys.readouterr().out.strip().splitlines()[-1]
    assert said.startswith(f"wrote {poses} (")
    assert "at 64x48 input (height x width), frame distance 1 (the checkpoint's)" in said
    assert " ms per frame (median; 90th percentile " in said
    with pytest.raises(SystemExit):
        main(["--frames", str(VIDEO), "--boxes", str(BOXES), "--checkpoint", str(checkpoint)])
