"""The convert_released stage (``dsta.released``): a released file converted by its entry's converter into a
checkpoint that carries the entry (``dsta.predict`` reads its data, model and test protocol from it), and a missing
file named with where to get it. End to end with evaluation: tests/test_smoke_posetrack.py."""

import pytest
import yaml

from dsta import released
from dsta.config import compose
from dsta.core.errors import DataError
from dsta.models import load_checkpoint, read_checkpoint
from tests.release_layouts import dsta_release_state_dict, save_as_released


@pytest.fixture
def params(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(compose(["experiments=paper_posetrack17"])))
    return path


def test_missing_release_names_the_entry_and_where_to_get_it(params):
    with pytest.raises(
        DataError,
        match=r"weights/dsta_r50_t3_posetrack17.pth: released.dsta_r50_t3.weights: released "
        r"weights not found; get it from zgspose/DSTA README, 'Weights Download'",
    ):
        released.convert_released(params, "dsta_r50_t3", "released/dsta_r50_t3.pt")
    with pytest.raises(DataError, match="released.nothing: missing"):
        released.convert_released(params, "nothing", "x.pt")


def test_converted_release_carries_its_entry(params):
    entry = compose(["experiments=paper_posetrack17"])["released"]["dsta_r50_t3"]
    save_as_released(dsta_release_state_dict(), entry["weights"])
    released.main(["--params", str(params), "--name", "dsta_r50_t3", "--out", "released/dsta_r50_t3.pt"])
    ckpt = read_checkpoint("released/dsta_r50_t3.pt")
    assert ckpt["model"] == "dsta" and ckpt["kwargs"] == entry["model"]["kwargs"] and ckpt["config"] == entry
    assert ckpt["released"] == "dsta_r50_t3" and "epoch" not in ckpt  # no training here
    # the release's read-out: both ears from token 0, besides the joint it holds
    assert load_checkpoint("released/dsta_r50_t3.pt").readout.tolist().count(0) == 3
