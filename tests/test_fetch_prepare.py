"""The fetch and prepare stages: sources, checksums, resumable downloads, safe extraction, the "not configured"
marker, and canonical annotations that evaluate exactly like the originals."""

import hashlib
import http.server
import io
import json
import shutil
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from dsta import fetch as ft
from dsta import prepare as pr
from dsta.core.errors import DataError
from dsta.data import posetrack as pt
from dsta.data.marker import NOT_CONFIGURED
from dsta.evaluate import evaluate

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLE = SHARED / "posetrack18-sample"
CASE = SHARED / "posetrack-eval-cases" / "real_identity"


def _release(tmp_path: Path) -> Path:
    """A PoseTrack18-layout release built from the shared sample."""
    root = tmp_path / "release" / "posetrack_data"
    shutil.copytree(SAMPLE / "annotations" / "val", root / "annotations" / "val")
    shutil.copytree(SAMPLE / "images", root / "images")
    return root.parent


def _tgz(src: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as t:
        t.add(src / "posetrack_data", arcname="posetrack_data")
    return dest


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_not_configured_writes_a_marker_and_prepare_passes_it_on(tmp_path):
    manifest = ft.fetch("posetrack17", {"source": None, "sha256": None}, tmp_path / "raw", tmp_path / "dl")
    assert manifest["configured"] is False and "datasets.posetrack17.source" in manifest["reason"]
    assert (tmp_path / "raw" / NOT_CONFIGURED).is_file()
    summary = pr.prepare(tmp_path / "raw", "posetrack17", tmp_path / "prepared")
    assert summary["configured"] is False
    assert [p.name for p in (tmp_path / "prepared").iterdir()] == [NOT_CONFIGURED]


def test_archive_is_verified_extracted_and_prepared(tmp_path):
    archive = _tgz(_release(tmp_path), tmp_path / "pt18.tar.gz")
    raw = tmp_path / "data" / "raw" / "posetrack18"
    manifest = ft.fetch("posetrack18", {"source": str(archive), "sha256": _sha(archive)}, raw, tmp_path / "dl")
    assert manifest["sha256_pinned"] and manifest["members"] > 3
    out = tmp_path / "data" / "posetrack18"
    summary = pr.prepare(raw, "posetrack18", out)
    assert summary["splits"]["val"]["sequences"] == 3 and summary["splits"]["val"]["format"] == "posetrack18"
    # image paths now resolve from the prepared folder, and the annotations read back unchanged
    for original in sorted((SAMPLE / "annotations" / "val").glob("*.json")):
        canon = pt.read_sequence(out / "annotations" / "val" / original.name)
        ref = pt.read_sequence(original)
        assert (out / canon.frames[0].file_name).is_file()
        assert [f.image_id for f in canon.frames] == [f.image_id for f in ref.frames]
        for a, b in zip(canon.frames, ref.frames):
            assert a.is_labeled == b.is_labeled and len(a.persons) == len(b.persons)
            for p, q in zip(a.persons, b.persons):
                np.testing.assert_array_equal(p.keypoints, q.keypoints)
                np.testing.assert_array_equal(p.head_box, q.head_box)
            for r, s in zip(a.ignore_regions, b.ignore_regions):
                np.testing.assert_array_equal(r, s)


def test_checksum_mismatch_is_an_error_and_leaves_no_output(tmp_path):
    archive = _tgz(_release(tmp_path), tmp_path / "pt18.tgz")
    with pytest.raises(DataError, match="sha256 mismatch"):
        ft.fetch("posetrack18", {"source": str(archive), "sha256": "0" * 64}, tmp_path / "raw", tmp_path / "dl")
    assert not (tmp_path / "raw").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".raw.")]


def test_archive_members_outside_the_output_are_refused(tmp_path):
    bad = tmp_path / "evil.tar"
    with tarfile.open(bad, "w") as t:
        data = b"x"
        info = tarfile.TarInfo("../escape.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    with pytest.raises(DataError, match="outside"):
        ft.fetch("posetrack18", {"source": str(bad)}, tmp_path / "raw", tmp_path / "dl")
    assert not (tmp_path / "escape.txt").exists()


def test_missing_source_names_the_param(tmp_path):
    with pytest.raises(DataError, match="datasets.posetrack21.source"):
        ft.fetch("posetrack21", {"source": str(tmp_path / "nope.zip")}, tmp_path / "raw", tmp_path / "dl")


def test_directory_source_is_linked(tmp_path):
    release = _release(tmp_path)
    raw = tmp_path / "raw"
    assert ft.fetch("posetrack18", {"source": str(release)}, raw, tmp_path / "dl")["kind"] == "directory"
    assert (raw / "data").is_symlink()
    assert pr.prepare(raw, "posetrack18", tmp_path / "prep")["splits"]["val"]["labeled_frames"] == 3


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one payload; honours ``Range: bytes=N-``; the first full request is cut off half way."""

    payload = b""
    cut_first = True
    seen_ranges: list = []

    def do_GET(self):  # noqa: N802
        start = 0
        rng = self.headers.get("Range")
        type(self).seen_ranges.append(rng)
        if rng:
            start = int(rng.split("=")[1].rstrip("-"))
            self.send_response(206)
        else:
            self.send_response(200)
        body = self.payload[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if type(self).cut_first and not rng:
            type(self).cut_first = False
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # drop the connection mid-transfer
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_download_resumes_after_an_interruption(tmp_path):
    archive = _tgz(_release(tmp_path), tmp_path / "pt18.tgz")
    _RangeHandler.payload = archive.read_bytes()
    _RangeHandler.seen_ranges = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/pt18.tgz"
    cfg = {"source": url, "sha256": _sha(archive)}
    try:
        with pytest.raises(DataError, match="resume"):
            ft.fetch("posetrack18", cfg, tmp_path / "raw", tmp_path / "dl")
        part = tmp_path / "dl" / "pt18.tgz.part"
        assert 0 < part.stat().st_size < len(_RangeHandler.payload)
        manifest = ft.fetch("posetrack18", cfg, tmp_path / "raw", tmp_path / "dl")
    finally:
        server.shutdown()
    assert manifest["sha256"] == cfg["sha256"]
    assert _RangeHandler.seen_ranges[-1] == f"bytes={len(_RangeHandler.payload) // 2}-"
    assert (tmp_path / "dl" / "pt18.tgz").read_bytes() == _RangeHandler.payload


def test_canonical_posetrack18_gt_evaluates_identically(tmp_path):
    """Rewriting GT in the canonical form changes no number of the evaluator."""
    gt = tmp_path / "gt"
    gt.mkdir()
    for f in sorted((CASE / "gt").glob("*.json")):
        (gt / f.name).write_text(json.dumps(pt.to_posetrack18(pt.read_sequence(f))))
    assert evaluate(gt, CASE / "pred") == evaluate(CASE / "gt", CASE / "pred")


def test_posetrack17_is_converted(tmp_path):
    from tests.test_posetrack import _pt17_doc

    raw = tmp_path / "raw" / "data" / "posetrack_data"
    (raw / "annotations" / "val").mkdir(parents=True)
    (raw / "annotations" / "val" / "000001_bonn_train.json").write_text(json.dumps(_pt17_doc()))
    img = raw / "images" / "bonn" / "000001_bonn_train" / "00001.jpg"
    img.parent.mkdir(parents=True)
    img.write_bytes(b"jpg")
    summary = pr.prepare(tmp_path / "raw", "posetrack17", tmp_path / "prep")
    assert summary["splits"]["val"]["format"] == "posetrack17"
    canon = pt.read_sequence(tmp_path / "prep" / "annotations" / "val" / "000001_bonn_train.json")
    ref = pt.read_posetrack17(raw / "annotations" / "val" / "000001_bonn_train.json")
    assert canon.format == "posetrack18"
    assert [f.image_id for f in canon.frames] == [f.image_id for f in ref.frames]
    np.testing.assert_array_equal(canon.frames[0].persons[0].keypoints, ref.frames[0].persons[0].keypoints)
    np.testing.assert_array_equal(canon.frames[0].persons[0].head_box, ref.frames[0].persons[0].head_box)


def test_prepare_without_val_annotations_is_an_error(tmp_path):
    (tmp_path / "raw" / "data" / "stuff").mkdir(parents=True)
    with pytest.raises(DataError, match="no val annotations"):
        pr.prepare(tmp_path / "raw", "posetrack18", tmp_path / "prep")
    assert not (tmp_path / "prep").exists()


def test_train_and_evaluate_skip_a_dataset_that_is_not_configured(tmp_path):
    """With the paper matrix selected but no PoseTrack fetched, the pipeline goes on and the report says why."""
    import yaml

    from dsta import predict, train
    from dsta.config import compose
    from reporting import build as rb

    ft.fetch("posetrack18", {"source": None}, tmp_path / "raw", tmp_path / "dl")
    pr.prepare(tmp_path / "raw", "posetrack18", tmp_path / "data" / "posetrack18")
    params = compose(["experiments=paper_posetrack18"])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    run = tmp_path / "runs" / "rle_r50"
    result = train.main(
        [
            "--params",
            str(tmp_path / "params.yaml"),
            "--experiment",
            "rle_r50",
            "--data-root",
            str(tmp_path / "data" / "posetrack18"),
            "--out",
            str(run),
        ]
    )
    assert "not configured" in result["skipped"]
    assert (run / "last.pt").is_file() and (run / "val").is_dir()
    metrics = predict.main(
        [
            "--checkpoint",
            str(run / "last.pt"),
            "--data-root",
            str(tmp_path / "data" / "posetrack18"),
            "--out",
            str(tmp_path / "eval" / "rle_r50"),
        ]
    )
    assert "not configured" in metrics["skipped"]
    out = rb.build(
        tmp_path / "params.yaml",
        Path(rb.__file__).parents[1] / "reports" / "reference.yaml",
        tmp_path / "runs",
        tmp_path / "eval",
        tmp_path / "profiles",
        tmp_path / "none.json",
        tmp_path / "data",
        tmp_path / "reports",
        plots=False,
    )
    assert any("rle_r50" in m and "not configured" in m for m in out["missing"])
    assert out["metrics"]["rle_r50"] == {}


def test_release_detections_are_checked_and_copied(tmp_path):
    release = _release(tmp_path)
    ids = [f.image_id for s in pt.read_split(SAMPLE / "annotations" / "val") for f in s.frames][:2]
    dets = [{"image_id": i, "category_id": 1, "bbox": [10, 20, 30, 40], "score": 0.9} for i in ids]
    support = release / "support" / "val_boxes.json"
    support.parent.mkdir()
    support.write_text(json.dumps(dets))
    (release / "posetrack_data" / "images" / "train_detections.json").write_text("[]")  # image trees are not read
    raw = tmp_path / "raw"
    ft.fetch("posetrack18", {"source": str(release)}, raw, tmp_path / "dl")
    summary = pr.prepare(raw, "posetrack18", tmp_path / "prep")
    assert summary["boxes"] == {
        "val": {
            "source": "data/support/val_boxes.json",
            "images": 2,
            "boxes": 2,
            "unmatched_boxes": 0,
            "unmatched_examples": [],
        }
    }
    assert json.loads((tmp_path / "prep" / "boxes" / "val_detections.json").read_text()) == dets
    # boxes of images outside the split are counted and named, not fatal ...
    support.write_text(json.dumps(dets + [{"image_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]))
    boxes = pr.prepare(raw, "posetrack18", tmp_path / "prep2")["boxes"]["val"]
    assert (boxes["boxes"], boxes["unmatched_boxes"], boxes["unmatched_examples"]) == (2, 1, ["1"])
    # ... but a file none of whose boxes matches is an error naming it
    support.write_text(json.dumps([{"image_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]))
    with pytest.raises(DataError, match="val_boxes.json: image_id: none of the 1 boxes"):
        pr.prepare(raw, "posetrack18", tmp_path / "prep3")
    assert not (tmp_path / "prep3").exists()


def test_dcpose_box_files_are_joined_by_image_name(tmp_path):
    """DCPose's val_boxes.json: image_name (the release-relative path), bbox, score, category_id, nframes, frame_id."""
    release = _release(tmp_path)
    seqs = pt.read_split(SAMPLE / "annotations" / "val")
    dets = [
        {
            "image_name": s.frames[0].file_name,
            "bbox": [10, 20, 30, 40],
            "score": 0.9,
            "category_id": 1,
            "nframes": 100,
            "frame_id": s.frames[0].image_id,
        }
        for s in seqs
    ]
    dets.append(
        {
            "image_name": "images/val/999999_mpii_test/000000.jpg",
            "bbox": [1, 1, 5, 5],
            "score": 0.9,
            "category_id": 1,
            "nframes": 1,
            "frame_id": 0,
        }
    )
    box_dir = release / "DcPose_supp_files" / "posetrack18_precomputed_boxes"
    box_dir.mkdir(parents=True)
    (box_dir / "val_boxes.json").write_text(json.dumps(dets))
    raw = tmp_path / "raw"
    ft.fetch("posetrack18", {"source": str(release)}, raw, tmp_path / "dl")
    summary = pr.prepare(raw, "posetrack18", tmp_path / "prep")
    boxes = summary["boxes"]["val"]
    assert (boxes["images"], boxes["boxes"], boxes["unmatched_boxes"]) == (3, 3, 1)
    assert boxes["unmatched_examples"] == ["999999_mpii_test/000000.jpg"]
    # the prepared annotations name images relative to the prepared folder; the join still finds them
    from dsta.data.dataset import TopDownClipDataset

    ds = TopDownClipDataset(
        tmp_path / "prep" / "annotations" / "val",
        tmp_path / "prep",
        num_frames=1,
        boxes=str(tmp_path / "prep" / "boxes" / "val_detections.json"),
    )
    assert len(ds) == 3 and ds.detections.unmatched_boxes == 1
    assert sorted(s.box_score for s in ds.samples) == [0.9] * 3


def test_weights_stage_verifies_copies_and_writes_one_manifest_per_experiment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "src.pth"
    src.write_bytes(b"weights")
    weights = {"w": {"file": "weights/w.pth", "source": str(src), "sha256": _sha(src), "where": "a lab's page"}}
    exps = {
        "a": {"model": {"kwargs": {"pretrained": "weights/w.pth"}}},
        "b": {"model": {"kwargs": {"pretrained": None}}},
    }
    out = ft.fetch_weights(weights, exps, tmp_path / "manifests", tmp_path / "dl")
    assert out == {"a": {"w": {"file": "weights/w.pth", "sha256": _sha(src)}}, "b": {}}
    assert (tmp_path / "weights" / "w.pth").read_bytes() == b"weights"
    assert json.loads((tmp_path / "manifests" / "b.json").read_text()) == {}
    # a swapped file with a pinned checksum stops the stage; without a source a missing file names where to get it
    (tmp_path / "weights" / "w.pth").write_bytes(b"other")
    with pytest.raises(DataError, match="weights.w.sha256: sha256 mismatch"):
        ft.fetch_weights(weights, exps, tmp_path / "manifests", tmp_path / "dl")
    (tmp_path / "weights" / "w.pth").unlink()
    with pytest.raises(DataError, match=r"no source configured; used by \['a'\]; get it from a lab's page"):
        ft.fetch_weights({"w": {**weights["w"], "source": None}}, exps, tmp_path / "manifests", tmp_path / "dl")


def test_weights_stage_checks_the_released_files_too(tmp_path, monkeypatch):
    """A ``released`` entry's file: verified like a pretrained file, its manifest ``released/NAME.json``; missing,
    an error naming the entry and where to get the release."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "r.pth").write_bytes(b"released")
    weights = {"r": {"file": "weights/r.pth", "source": None, "sha256": None, "where": "the authors' Drive folder"}}
    entries = {"dsta_r50_t3": {"weights": "weights/r.pth"}}
    out = ft.fetch_weights(weights, {}, tmp_path / "manifests", tmp_path / "dl", entries)
    digest = _sha(tmp_path / "weights" / "r.pth")
    assert out == {"released/dsta_r50_t3": {"r": {"file": "weights/r.pth", "sha256": digest}}}
    assert (
        json.loads((tmp_path / "manifests" / "released" / "dsta_r50_t3.json").read_text())
        == out["released/dsta_r50_t3"]
    )
    (tmp_path / "weights" / "r.pth").unlink()
    with pytest.raises(DataError, match=r"used by \['released/dsta_r50_t3'\]; get it from the authors' Drive"):
        ft.fetch_weights(weights, {}, tmp_path / "manifests", tmp_path / "dl", entries)


def test_training_without_its_weights_file_names_file_experiment_and_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(
        json.dumps({"weights": {"w": {"file": "weights/w.pth", "source": None, "where": "the RLE README"}}})
    )
    cfg = {"model": {"kwargs": {"pretrained": "weights/w.pth"}}}
    with pytest.raises(
        DataError,
        match=r"weights/w.pth: experiments.dsta_r50_t3.model.kwargs.pretrained: weights "
        r"file not found; get it from the RLE README",
    ):
        ft.require_weights(tmp_path / "params.yaml", "dsta_r50_t3", cfg)
    ft.require_weights(tmp_path / "params.yaml", "x", {"model": {"kwargs": {"pretrained": None}}})


def test_a_missing_pretrained_backbone_names_the_pretrain_stage(tmp_path, monkeypatch):
    """The fine-tunes start from the pretrain stage's backbone: when it is missing, the fix is that stage (its dvc
    target and the command it runs), not a download."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(json.dumps({"pretrain": {"rle": {"data": {"name": "synthetic"}}}}))
    cfg = {"model": {"kwargs": {"pretrained": "pretrain/rle/backbone.pt"}}}
    with pytest.raises(
        DataError, match=r"not made yet: the pretrain stage writes it \(`dvc repro pretrain@rle`"
    ) as err:
        ft.require_weights(tmp_path / "params.yaml", "dsta_t3", cfg)
    assert "--section pretrain --experiment rle --data-root data/synthetic" in str(err.value)
    assert "experiments.dsta_t3.model.kwargs.pretrained" in str(err.value) and "configs/weights" not in str(err.value)


def test_validation_in_training_falls_back_to_gt_boxes_but_evaluation_does_not(tmp_path):
    """No detection file in the release: training validates with GT boxes (and says so); dsta.predict stops."""
    from dsta.data.dataset import make_dataset

    release = _release(tmp_path) / "posetrack_data"
    data = {
        "val_ann": "annotations/val",
        "image_root": ".",
        "boxes": "boxes/val_detections.json",
        "input_size": [48, 64],
        "frame_distance": 1,
        "max_frame_distance": 1,
        "box_enlarge": 1.25,
    }
    auto = make_dataset(data, 1, "regression", release, "val", train=False, boxes="auto")
    assert auto.detections is None and len(auto) == 14  # every GT person
    with pytest.raises(DataError, match="boxes/val_detections.json: data.boxes: detection file not found"):
        make_dataset(data, 1, "regression", release, "val", train=False)


# -- issue 22: one line, nothing lost -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["truncated_tgz", "fake_zip"])
def test_a_broken_archive_is_one_error_naming_it_and_the_old_output_stays(tmp_path, kind):
    release = _release(tmp_path)
    raw = tmp_path / "raw"
    ft.fetch("posetrack18", {"source": str(release)}, raw, tmp_path / "dl")  # an earlier good fetch
    before = sorted(p.name for p in raw.iterdir())
    if kind == "truncated_tgz":
        full = _tgz(release, tmp_path / "full.tgz").read_bytes()
        bad = tmp_path / "pt18.tgz"
        bad.write_bytes(full[: len(full) // 3])
    else:
        bad = tmp_path / "pt18.zip"
        bad.write_bytes(b"this is not a zip archive\n" * 10)
    with pytest.raises(DataError, match="truncated or corrupt archive") as err:
        ft.fetch("posetrack18", {"source": str(bad)}, raw, tmp_path / "dl")
    assert err.value.path == str(bad) and err.value.field == "source"
    assert sorted(p.name for p in raw.iterdir()) == before


def test_an_unsupported_url_scheme_is_refused_as_such(tmp_path):
    with pytest.raises(DataError, match="unsupported URL scheme 'ftp'") as err:
        ft.fetch("posetrack18", {"source": "ftp://example.org/pt18.tgz"}, tmp_path / "raw", tmp_path / "dl")
    assert err.value.field == "datasets.posetrack18.source"
    assert not (tmp_path / "raw").exists()


def test_prepare_refuses_a_release_that_is_not_the_named_dataset(tmp_path):
    raw = tmp_path / "raw"
    ft.fetch("posetrack18", {"source": str(_release(tmp_path))}, raw, tmp_path / "dl")
    out = tmp_path / "prep"
    pr.prepare(raw, "posetrack18", out)
    good = (out / "dataset.json").read_text()
    with pytest.raises(DataError, match="posetrack18 annotations, not posetrack21") as err:
        pr.prepare(raw, "posetrack21", out)
    assert err.value.field == "--dataset"
    assert (out / "dataset.json").read_text() == good
