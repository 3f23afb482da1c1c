"""Safe loading (``dsta.nn.checkpoint.load_file``): a crafted checkpoint whose pickle would run code is refused, in one
line naming the global it would call, by every command that reads a checkpoint, and nothing of it runs; only
``--trust-checkpoint`` unpickles it. Our own checkpoints and the releases' layouts load without that flag. Shape
mismatches on load are one line (also tests/test_predict.py)."""

import argparse
from pathlib import Path

import pytest
import torch
import yaml

from dsta.core.errors import DataError
from dsta.nn.checkpoint import load_file, read_checkpoint
from tests.conftest import SHARED


class Payload:
    """Unpickling this calls ``exec``, which writes the file ``marker``: what a crafted ``.pth`` does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def _crafted(tmp_path: Path, layout: str = "ours") -> tuple[Path, Path]:
    """A checkpoint in ``layout`` (ours, or a release's ``state_dict`` dict) that carries the payload."""
    marker = tmp_path / "payload-ran"
    path = tmp_path / "crafted.pth"
    doc = {"model": "dsta", "kwargs": {}, "state_dict": {}, "payload": Payload(marker)}
    if layout == "release":
        doc = {"state_dict": {"fc_coord.linear.weight": torch.zeros(1)}, "epoch": Payload(marker)}
    torch.save(doc, path)
    return path, marker


def _refused(capsys, run, path: Path, marker: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        run()
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and "\n" not in err, err
    assert err.startswith(f"error: {path}: refused: loading this ") and "would call builtins.exec" in err, err
    assert "--trust-checkpoint" in err
    assert not marker.exists()  # nothing ran


def test_crafted_checkpoint_runs_nothing_through_any_command(tmp_path, synthetic_tiny, monkeypatch, capsys):
    from baselines import convert_dcpose, convert_rle
    from dsta import convert_official, demo, predict, released, robustness, train

    path, marker = _crafted(tmp_path)
    data = str(synthetic_tiny)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"robustness": {"corruptions": ["blank"], "severities": [1], "modes": ["key"]}}))
    video = SHARED / "posetrack18-sample" / "videos" / "000001_mpiinew_test"
    boxes = Path(__file__).parent / "data" / "sample_video_boxes.json"
    commands = {
        "predict": lambda: predict.main(["--checkpoint", str(path), "--data-root", data, "--out", str(tmp_path / "e")]),
        "robustness": lambda: robustness.main(
            ["--params", str(params), "--checkpoint", str(path), "--data-root", data, "--out", str(tmp_path / "r")]
        ),
        "demo": lambda: demo.main(
            ["--frames", str(video), "--boxes", str(boxes), "--checkpoint", str(path), "--out", str(tmp_path / "d.gif")]
        ),
        "convert_official": lambda: convert_official.main([str(path), str(tmp_path / "o.pt")]),
        "convert_dcpose": lambda: convert_dcpose.main([str(path), str(tmp_path / "c.pt")]),
        "convert_rle": lambda: convert_rle.main([str(path), str(tmp_path / "l.pt")]),
    }
    for run in commands.values():
        _refused(capsys, run, path, marker)
    # train, resuming: the crafted file sits where an interrupted run left its checkpoint
    from tests.test_train import _params

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "last.pt").write_bytes(path.read_bytes())
    _refused(
        capsys,
        lambda: train.main(
            [
                "--params",
                str(_params(tmp_path, epochs=1)),
                "--experiment",
                "tiny",
                "--data-root",
                data,
                "--out",
                str(run_dir),
            ]
        ),
        run_dir / "last.pt",
        marker,
    )
    # the convert_released stage, on a released file in a release's layout
    monkeypatch.chdir(tmp_path)
    from dsta.config import compose

    doc = compose(["experiments=paper_posetrack17"])
    Path("params.yaml").write_text(yaml.safe_dump(doc))
    weights = Path(doc["released"]["dsta_r50_t3"]["weights"])
    weights.parent.mkdir(parents=True, exist_ok=True)
    release, marker = _crafted(tmp_path, "release")
    weights.write_bytes(release.read_bytes())
    _refused(
        capsys,
        lambda: released.main(["--params", "params.yaml", "--name", "dsta_r50_t3", "--out", "x.pt"]),
        weights,
        marker,
    )
    assert not Path("x.pt").exists() and not (tmp_path / "o.pt").exists()


def test_trust_flag_unpickles_what_the_safe_loader_refuses(tmp_path):
    """A benign checkpoint that needs a global outside the allow-list (an ``argparse.Namespace`` of options, as some
    code bases save): refused by default, read with ``trust=True``."""
    path = tmp_path / "with_args.pth"
    torch.save({"state_dict": {"w": torch.ones(2)}, "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(DataError, match=r"refused: loading this checkpoint would call argparse.Namespace"):
        load_file(path)
    assert load_file(path, trust=True)["args"].lr == 0.1


def test_refusals_name_what_the_file_needs_and_pretrained_files_are_read_safely_too(tmp_path):
    """A numpy float array (its dtype class is not allow-listed) is refused naming that class; a crafted file given as
    a model's ``pretrained`` weights (dsta.nn.backbones) is one line too, and runs nothing."""
    import numpy as np

    from dsta.nn.backbones import read_state_dict

    torch.save({"x": np.zeros(2, np.float32)}, tmp_path / "f32.pt")
    with pytest.raises(DataError, match=r"refused: loading this checkpoint would call numpy.dtypes.Float32DType,"):
        load_file(tmp_path / "f32.pt")
    path, marker = _crafted(tmp_path)
    with pytest.raises(DataError, match=r"crafted.pth: model.pretrained: cannot read these weights safely"):
        read_state_dict(path)
    assert not marker.exists()


def test_our_training_checkpoint_and_the_release_layouts_load_safely(tmp_path, synthetic_tiny):
    """What the allow-list is for: dsta.train's checkpoint (its numpy RNG state); and each release layout as its
    code base saves it (tests/release_layouts.py) needs nothing beyond tensors and containers."""
    import numpy as np

    from tests.release_layouts import dcpose_release_state_dict, dsta_release_state_dict, save_as_released

    torch.save(
        {"rng": {"numpy": np.random.get_state()}, "model": "rle", "kwargs": {}, "state_dict": {}}, tmp_path / "ours.pt"
    )
    state = read_checkpoint(tmp_path / "ours.pt")["rng"]["numpy"]
    assert state[0] == "MT19937" and state[1].dtype == np.uint32
    for make in (dsta_release_state_dict, dcpose_release_state_dict):
        save_as_released(make(), tmp_path / f"{make.__name__}.pth")
        assert isinstance(load_file(tmp_path / f"{make.__name__}.pth")["state_dict"], dict)
