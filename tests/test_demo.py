from pathlib import Path

import pytest
from PIL import Image

from dsta.demo import main, read_boxes
from dsta.errors import DataError
from dsta.models import create_model, save_checkpoint
from tests.conftest import SHARED

VIDEO = SHARED / "posetrack18-sample" / "videos" / "000001_mpiinew_test"
BOXES = Path(__file__).parent / "data" / "sample_video_boxes.json"


@pytest.fixture
def checkpoint(tmp_path):
    kwargs = dict(backbone="resnet18", num_frames=3, embed_dim=16, depth=1, num_heads=4)
    path = tmp_path / "dsta.pt"
    save_checkpoint(path, "dsta", kwargs, create_model("dsta", **kwargs),
                    config={"data": {"input_size": [48, 64], "frame_distance": 1, "box_enlarge": 1.25}})
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
    main(["--frames", str(VIDEO / "000001_mpiinew_test.mp4"), "--boxes", str(BOXES), "--checkpoint",
          str(checkpoint), "--out", str(out)])
    assert out.is_file()


def test_bad_boxes(tmp_path):
    bad = tmp_path / "b.json"
    bad.write_text('{"boxes": [{"frame": 0, "track_id": 1, "bbox": [0, 0, -5, 5]}]}')
    with pytest.raises(DataError, match=r"boxes\[0\].bbox"):
        read_boxes(bad)
