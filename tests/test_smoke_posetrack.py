"""The paper matrices end to end on real-layout PoseTrack17/18/21 releases (``tests/smoke_release.py``): the stage
commands of ``dvc.yaml`` (weights, fetch, prepare, train, evaluate with detected boxes, convert_released and
evaluate_released, report) run in order on the CPU, in a temporary directory, for the experiments of
``configs/experiments/paper_posetrack{17,18,21}_smoke.yaml`` (official recipes and input sizes, random init, batch 2,
one epoch: every experiment on PoseTrack17, the ResNet ones on PoseTrack18 and 21, as the HRNet models' code does not
depend on the release and they cost 38 of the 55 s a release takes; every experiment is composed and checked for each
release, and the report lists the untrained ones as missing) and every released entry (PoseTrack17: DSTA's and
DCPose's releases, as random weights in each release's layout saved as the release saves them, placed in weights/).
Each stage's ``main`` is called with the arguments its dvc.yaml command passes, in one process (a process per stage
would spend most of the time importing torch)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dsta.core.io import load_yaml
from tests.release_layouts import dcpose_release_state_dict, dsta_release_state_dict, save_as_released
from tests.smoke_release import build_release

EXPERIMENTS = ("dsta_r50_t3", "dsta_r50_t5", "dsta_hrnet_w48_t3", "rle_r50", "dcpose_hrnet_w48")
TRAINED = {
    17: EXPERIMENTS,
    18: ("dsta_r50_t3", "dsta_r50_t5", "rle_r50"),
    21: ("dsta_r50_t3", "dsta_r50_t5", "rle_r50"),
}
RELEASE_LAYOUTS = {
    "dsta.convert_official": dsta_release_state_dict,
    "baselines.convert_dcpose": dcpose_release_state_dict,
}
REPO = Path(__file__).resolve().parents[1]


def _run_release(tmp: Path, version: int) -> dict:
    from dsta import config, fetch, predict, prepare, released, train
    from reporting import build

    name = f"posetrack{version}"
    release = build_release(tmp / f"release{version}", version)
    params = str(tmp / "params.yaml")
    config.main([f"experiments=paper_posetrack{version}_smoke", f"datasets.{name}.source={release}", "--out", params])
    releases = load_yaml(params)["released"]
    assert set(releases) == ({"dsta_r50_t3", "dcpose_hrnet_w48"} if version == 17 else set())
    for entry in releases.values():  # the released files, placed as a user places them
        save_as_released(RELEASE_LAYOUTS[entry["converter"]](), entry["weights"])
    manifests = fetch.main(["--params", params, "--weights", "--out", "data/weights"])
    assert {k: v for k, v in manifests.items() if k in EXPERIMENTS} == {e: {} for e in EXPERIMENTS}  # random init
    for key, entry in releases.items():  # each released file's sha256, in the manifest convert_released depends on
        manifest = json.loads(Path(f"data/weights/released/{key}.json").read_text())
        assert [m["sha256"] for m in manifest.values()] == [fetch.sha256_of(Path(entry["weights"]))], key
    fetch.main(["--params", params, "--dataset", name, "--out", f"data/raw/{name}", "--downloads", "data/downloads"])
    summary = prepare.main(["--raw", f"data/raw/{name}", "--dataset", name, "--out", f"data/{name}"])
    boxes = summary["boxes"]["val"]
    assert (boxes["images"], boxes["boxes"], boxes["unmatched_boxes"]) == (3, 3, 1)
    results = {}
    for exp in TRAINED[version]:
        run = train.main(
            ["--params", params, "--experiment", exp, "--data-root", f"data/{name}", "--out", f"runs/{exp}"]
        )
        assert run["epochs"] == 1 and run["val"]["Total"] >= 0, exp
        metrics = predict.main(
            ["--checkpoint", f"runs/{exp}/last.pt", "--data-root", f"data/{name}", "--out", f"eval/{exp}"]
        )
        assert metrics["boxes"] == "boxes/val_detections.json" and 0 <= metrics["Total"] <= 100, exp
        preds = [json.loads(p.read_text()) for p in sorted(Path(f"eval/{exp}/predictions").glob("*.json"))]
        assert sum(len(p["annotations"]) for p in preds) == 3, exp  # one prediction per matched detection
        results[exp] = metrics["Total"]
    for key, entry in releases.items():  # convert_released, then evaluate_released: no training
        released.main(["--params", params, "--name", key, "--out", f"released/{key}.pt"])
        metrics = predict.main(
            [
                "--checkpoint",
                f"released/{key}.pt",
                "--data-root",
                f"data/{name}",
                "--out",
                f"eval/released/{key}",
                *(["--flip"] if entry["test"]["flip"] else []),
            ]
        )
        assert metrics["boxes"] == "boxes/val_detections.json" and 0 <= metrics["Total"] <= 100, key
        assert metrics["epoch"] is None and metrics["flip"] is entry["test"]["flip"], key
        # which file was converted, in the row's provenance (no release publishes a checksum)
        assert metrics["provenance"]["weights_sha256"] == fetch.sha256_of(Path(entry["weights"])), key
        preds = [json.loads(p.read_text()) for p in sorted(Path(f"eval/released/{key}/predictions").glob("*.json"))]
        assert sum(len(p["annotations"]) for p in preds) == 3, key
        results[f"released/{key}"] = metrics["Total"]
    out = build.main(
        [
            "--params",
            params,
            "--reference",
            str(REPO / "reports" / "reference.yaml"),
            "--runs",
            "runs",
            "--eval",
            "eval",
            "--profiles",
            "profiles",
            "--benchmarks",
            "none.json",
            "--data",
            "data",
            "--out",
            f"reports_{name}",
            "--no-plots",
        ]
    )
    page = Path(f"reports_{name}/{name}.md").read_text()
    assert all(exp in page for exp in EXPERIMENTS), page[:2000]
    for exp in set(EXPERIMENTS) - set(TRAINED[version]):  # composed, not trained here: listed as missing
        assert f"`{exp}`: no evaluation yet" in page, exp
    assert page.count("released weights, evaluated here [") == len(releases), page[:3000]
    assert all(f"`released.{key}` of params.yaml" in page for key in releases), page[:3000]
    return {"results": results, "report": out}


@pytest.mark.slow
def test_paper_matrices_run_end_to_end_on_real_layout_releases(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    times = {}
    for version in (18, 17, 21):
        start = time.time()
        work = tmp_path / f"pt{version}"
        work.mkdir()
        monkeypatch.chdir(work)
        _run_release(work, version)
        times[version] = time.time() - start
    print("smoke seconds per release:", {k: round(v, 1) for k, v in times.items()})
