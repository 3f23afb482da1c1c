import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from dsta import evaluate as ev
from dsta.core import keypoints as kp
from dsta.core.errors import DataError
from dsta.eval_cases import CaseConfig, make_case
from tests.poseval_reference import reference_ap

CASES = Path(__file__).resolve().parents[1].parent / "shared" / "posetrack-eval-cases"
COLUMNS = ["Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl", "Total"]


@pytest.mark.parametrize("case", ["real_identity", "synth_identity", "synth_jitter_small", "synth_fp_fn"])
def test_matches_official_poseval(case):
    expected = json.loads((CASES / case / "expected.json").read_text())
    got = ev.evaluate(CASES / case / "gt", CASES / case / "pred")
    for col in COLUMNS:
        assert got[col] == pytest.approx(expected[col], abs=0.01), col
    assert np.allclose(got["per_joint"], expected["per_joint"], atol=0.01)


@pytest.mark.parametrize(
    "seed,extra",
    [
        (1, dict(ignore_region_prob=0.5)),
        (2, dict(unlabeled_frames=3, noise=0.6)),
        (3, dict(fp_per_frame=3.0, drop_prob=0.4, tie_prob=0.3)),
        (4, dict(missing_joint_prob=0.5, ignore_region_prob=0.3, unlabeled_frames=2)),
    ],
)
def test_agrees_with_plain_reference(tmp_path, seed, extra):
    make_case(tmp_path, CaseConfig(sequences=4, frames=6, persons=3, seed=seed, **extra))
    got = ev.evaluate(tmp_path / "gt", tmp_path / "pred")
    ref = reference_ap(tmp_path / "gt", tmp_path / "pred")
    assert np.allclose(got["per_joint"], ref, atol=1e-9)
    for group, idx in kp.POSEVAL_GROUP_INDICES.items():
        assert got[group] == pytest.approx(np.mean([ref[i] for i in idx]))
    assert got["Total"] == pytest.approx(np.mean(ref))


def _write(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def _tiny(tmp_path: Path, pred_xy_shift: float = 0.0, regions=None, second_frame_labeled=True):
    """One sequence, two frames, one person with all joints; predictions = GT shifted by pred_xy_shift px."""
    pts = np.stack([np.linspace(100, 300, 17), np.linspace(50, 400, 17)], 1)
    kps = np.concatenate([pts, np.ones((17, 1))], 1)
    for ear in kp.UNANNOTATED_KEYPOINTS:
        kps[kp.KEYPOINT_INDEX[ear]] = 0
    images = [
        {"id": 10240000000 + t, "file_name": f"images/val/024000_mpii_test/{t:06d}.jpg", "is_labeled": True}
        for t in range(2)
    ]
    if regions:
        images[0]["ignore_regions_x"], images[0]["ignore_regions_y"] = regions
    gt = [
        {"image_id": images[0]["id"], "track_id": 0, "keypoints": kps.reshape(-1).tolist(), "bbox_head": [0, 0, 50, 50]}
    ]
    if second_frame_labeled:
        gt.append({**gt[0], "image_id": images[1]["id"]})
    pred_kps = kps.copy()
    pred_kps[:, :2] += pred_xy_shift
    pred_kps[:, 2] = 1
    pr = [
        {"image_id": img["id"], "track_id": 0, "keypoints": pred_kps.reshape(-1).tolist(), "scores": [0.9] * 17}
        for img in images
    ]
    _write(tmp_path / "gt" / "024000_mpii_test.json", {"images": images, "annotations": gt})
    _write(tmp_path / "pred" / "024000_mpii_test.json", {"images": images, "annotations": pr})


def test_perfect_predictions_score_100(tmp_path):
    _tiny(tmp_path)
    got = ev.evaluate(tmp_path / "gt", tmp_path / "pred")
    assert got["Total"] == pytest.approx(100.0)
    assert got["num_frames"] == 2


def test_pckh_threshold_is_half_of_06_head_diagonal(tmp_path):
    head = 0.6 * np.hypot(50, 50)  # 42.43 px; threshold 21.2 px
    _tiny(tmp_path, pred_xy_shift=(0.5 * head - 0.01) / np.sqrt(2))
    assert ev.evaluate(tmp_path / "gt", tmp_path / "pred")["Total"] == pytest.approx(100.0)
    shutil.rmtree(tmp_path / "gt"), shutil.rmtree(tmp_path / "pred")
    _tiny(tmp_path, pred_xy_shift=(0.5 * head + 0.01) / np.sqrt(2))
    assert ev.evaluate(tmp_path / "gt", tmp_path / "pred")["Total"] == pytest.approx(0.0)


def test_frames_without_gt_people_are_dropped(tmp_path):
    # the second frame has predictions but no GT person: poseval drops it, so they are not false positives
    _tiny(tmp_path, second_frame_labeled=False)
    got = ev.evaluate(tmp_path / "gt", tmp_path / "pred")
    assert got["num_frames"] == 1
    assert got["Total"] == pytest.approx(100.0)


def test_ignore_regions_remove_gt_and_predictions(tmp_path):
    # a polygon around the first 3 joints of frame 0: GT there is gone, and the predictions there do not count
    _tiny(tmp_path, pred_xy_shift=1000.0, regions=([[0, 1e4, 1e4, 0]], [[0, 0, 1e4, 1e4]]))
    got = ev.evaluate(tmp_path / "gt", tmp_path / "pred")
    # frame 0 fully ignored: only frame 1 counts, whose predictions are all wrong -> AP 0, not NaN or FP-diluted
    assert got["Total"] == pytest.approx(0.0)
    shutil.rmtree(tmp_path / "gt"), shutil.rmtree(tmp_path / "pred")
    _tiny(tmp_path, regions=([[0, 1e4, 1e4, 0]], [[0, 0, 1e4, 1e4]]))
    assert ev.evaluate(tmp_path / "gt", tmp_path / "pred")["Total"] == pytest.approx(100.0)


def test_split_by_boolean_field(tmp_path):
    make_case(tmp_path, CaseConfig(sequences=3, frames=8, persons=2, seed=5))
    got = ev.evaluate(tmp_path / "gt", tmp_path / "pred", split_by="corrupted")
    t, f = got["split"]["true"], got["split"]["false"]
    assert t["num_frames"] + f["num_frames"] == got["num_frames"]
    assert 0 < t["num_frames"] < got["num_frames"]
    with pytest.raises(DataError, match="nonexistent"):
        ev.evaluate(tmp_path / "gt", tmp_path / "pred", split_by="nonexistent")


def test_cli_writes_json_with_poseval_columns(tmp_path, capsys):
    out = tmp_path / "m.json"
    ev.main(
        [
            "--gt",
            str(CASES / "real_identity" / "gt"),
            "--pred",
            str(CASES / "real_identity" / "pred"),
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert "Head" in printed and "Total" in printed
    data = json.loads(out.read_text())
    assert set(COLUMNS) | {"per_joint", "precision", "recall"} <= set(data)
    assert len(data["per_joint"]) == 15


def test_poseval_backend_without_package_is_a_clear_error(tmp_path):
    try:
        import poseval  # noqa: F401

        pytest.skip("poseval is installed here")
    except ImportError:
        pass
    with pytest.raises(SystemExit) as err:
        ev.main(
            [
                "--gt",
                str(CASES / "real_identity" / "gt"),
                "--pred",
                str(CASES / "real_identity" / "pred"),
                "--backend",
                "poseval",
            ]
        )
    assert err.value.code == 2


def test_writer_round_trip(tmp_path):
    _tiny(tmp_path)
    gt = json.loads((tmp_path / "gt" / "024000_mpii_test.json").read_text())
    preds = []
    for ann in gt["annotations"]:
        k = np.array(ann["keypoints"], float).reshape(17, 3)
        preds.append(ev.PosePrediction(image_id=ann["image_id"], keypoints=k[:, :2], scores=np.full(17, 0.8)))
    ev.write_predictions(tmp_path / "gt", preds, tmp_path / "out")
    assert ev.evaluate(tmp_path / "gt", tmp_path / "out")["Total"] == pytest.approx(100.0)


# ---- bad input: one clear error naming the file and the field ----


def _bad(tmp_path, mutate):
    _tiny(tmp_path)
    path = tmp_path / "pred" / "024000_mpii_test.json"
    doc = json.loads(path.read_text())
    mutate(doc)
    path.write_text(json.dumps(doc) if isinstance(doc, dict) else doc)
    with pytest.raises(DataError) as err:
        ev.evaluate(tmp_path / "gt", tmp_path / "pred")
    return str(err.value)


def test_missing_prediction_file(tmp_path):
    _tiny(tmp_path)
    (tmp_path / "pred" / "024000_mpii_test.json").unlink()
    with pytest.raises(DataError, match="prediction file missing.*024000_mpii_test"):
        ev.evaluate(tmp_path / "gt", tmp_path / "pred")


def test_frame_count_mismatch(tmp_path):
    def mutate(d):
        d["images"].pop()
        d["annotations"].pop()

    msg = _bad(tmp_path, mutate)
    assert "024000_mpii_test.json: images: 1 frames" in msg


def test_image_id_mismatch(tmp_path):
    def mutate(d):
        d["images"][1]["id"] = 5
        d["annotations"][1]["image_id"] = 5

    assert "images[1].id" in _bad(tmp_path, mutate)


def test_wrong_keypoint_count(tmp_path):
    msg = _bad(tmp_path, lambda d: d["annotations"][0].update(keypoints=[1.0] * 45))
    assert "annotations[0].keypoints" in msg and "51" in msg


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_or_inf(tmp_path, value):
    def mutate(d):
        d["annotations"][1]["keypoints"][4] = value

    path_msg = _bad(tmp_path, lambda d: d["annotations"][1]["scores"].__setitem__(2, value))
    assert "annotations[1].scores[2]" in path_msg
    shutil.rmtree(tmp_path / "gt"), shutil.rmtree(tmp_path / "pred")
    assert "annotations[1].keypoints[4]" in _bad(tmp_path, mutate)


def test_duplicate_track_ids_in_a_frame(tmp_path):
    def mutate(d):
        d["annotations"].append(dict(d["annotations"][0]))

    assert "annotations[2].track_id" in _bad(tmp_path, mutate)


def test_unknown_format_and_malformed_json(tmp_path):
    assert "unknown format" in _bad(tmp_path, lambda d: d.pop("images"))
    shutil.rmtree(tmp_path / "gt"), shutil.rmtree(tmp_path / "pred")
    _tiny(tmp_path)
    (tmp_path / "pred" / "024000_mpii_test.json").write_text("{not json")
    with pytest.raises(DataError, match="024000_mpii_test.json: line 1 column 2: malformed JSON"):
        ev.evaluate(tmp_path / "gt", tmp_path / "pred")


def test_missing_scores(tmp_path):
    assert "annotations[0].scores" in _bad(tmp_path, lambda d: d["annotations"][0].pop("scores"))


def test_posetrack17_gt_is_read(tmp_path):
    """The same person as PoseTrack17 annolist GT gives the same AP as the PoseTrack18 file."""
    _tiny(tmp_path)
    gt18 = json.loads((tmp_path / "gt" / "024000_mpii_test.json").read_text())
    annolist = []
    for img in gt18["images"]:
        rects = []
        for ann in gt18["annotations"]:
            if ann["image_id"] != img["id"]:
                continue
            k = np.array(ann["keypoints"]).reshape(17, 3)
            x, y, w, h = ann["bbox_head"]
            points = [
                {"id": [pid], "x": [float(k[ki, 0])], "y": [float(k[ki, 1])], "is_visible": [1]}
                for pid, ki in enumerate(kp.POSEVAL_TO_KEYPOINT)
            ]
            rects.append(
                {"x1": [x], "y1": [y], "x2": [x + w], "y2": [y + h], "track_id": [0], "annopoints": [{"point": points}]}
            )
        annolist.append({"image": [{"name": img["id"]}], "annorect": rects, "is_labeled": [1]})
    (tmp_path / "gt" / "024000_mpii_test.json").write_text(json.dumps({"annolist": annolist}))
    # the prediction file must pair frame by frame: give it the same image names
    pred = json.loads((tmp_path / "pred" / "024000_mpii_test.json").read_text())
    pr_list = []
    for img in pred["images"]:
        rects = []
        for ann in pred["annotations"]:
            if ann["image_id"] == img["id"]:
                k = np.array(ann["keypoints"]).reshape(17, 3)
                rects.append(
                    {
                        "track_id": [0],
                        "annopoints": [
                            {
                                "point": [
                                    {"id": [pid], "x": [float(k[ki, 0])], "y": [float(k[ki, 1])], "score": [0.9]}
                                    for pid, ki in enumerate(kp.POSEVAL_TO_KEYPOINT)
                                ]
                            }
                        ],
                    }
                )
        pr_list.append({"image": [{"name": img["id"]}], "annorect": rects})
    (tmp_path / "pred" / "024000_mpii_test.json").write_text(json.dumps({"annolist": pr_list}))
    assert ev.evaluate(tmp_path / "gt", tmp_path / "pred")["Total"] == pytest.approx(100.0)


def _untie(pred_dir: Path, seed: int) -> None:
    """Give every predicted joint a distinct score, so that no tie-break can matter."""
    files = sorted(pred_dir.glob("*.json"))
    docs = [json.loads(f.read_text()) for f in files]
    total = sum(len(d["annotations"]) for d in docs) * kp.NUM_KEYPOINTS
    values = iter(np.random.RandomState(seed).permutation(total) / total)
    for f, doc in zip(files, docs):
        for ann in doc["annotations"]:
            ann["scores"] = [float(next(values)) for _ in range(kp.NUM_KEYPOINTS)]
        f.write_text(json.dumps(doc))


@pytest.mark.parametrize("seed", range(3))
def test_without_ties_equals_the_plain_reference_exactly(tmp_path, seed):
    make_case(
        tmp_path,
        CaseConfig(
            sequences=4,
            frames=6,
            persons=3,
            seed=seed,
            noise=0.4,
            ignore_region_prob=0.4,
            unlabeled_frames=2,
            fp_per_frame=2.0,
            tie_prob=0.0,
        ),
    )
    _untie(tmp_path / "pred", seed)
    got = ev.evaluate(tmp_path / "gt", tmp_path / "pred")
    # equal up to the order in which the AP area is summed (numpy's pairwise sum vs Python's loop)
    assert np.allclose(got["per_joint"], reference_ap(tmp_path / "gt", tmp_path / "pred"), rtol=0, atol=1e-12)


def _tied_case(tmp_path: Path) -> None:
    """Several sequences whose predicted joints often score exactly 1.0, false positives included."""
    make_case(
        tmp_path, CaseConfig(sequences=5, frames=4, persons=3, seed=11, noise=0.5, fp_per_frame=2.0, tie_prob=0.6)
    )
    for f in (tmp_path / "pred").glob("*.json"):  # false positives tie with the true ones at 1.0 too
        doc = json.loads(f.read_text())
        for ann in doc["annotations"]:
            ann["scores"] = [1.0 if s > 0.5 else s for s in ann["scores"]]
        f.write_text(json.dumps(doc))


def test_file_listing_order_does_not_move_ap(tmp_path, monkeypatch):
    _tied_case(tmp_path)
    names = sorted(os.listdir(tmp_path / "gt"))
    # the case is sensitive: taking the sequences in another order changes the plain reference's AP
    assert reference_ap(tmp_path / "gt", tmp_path / "pred", names=names[::-1]) != reference_ap(
        tmp_path / "gt", tmp_path / "pred", names=names
    )
    expected = ev.evaluate(tmp_path / "gt", tmp_path / "pred")
    assert np.allclose(
        expected["per_joint"], reference_ap(tmp_path / "gt", tmp_path / "pred", names=names), rtol=0, atol=1e-12
    )
    real_listdir = os.listdir
    for seed in range(3):

        def shuffled(path, seed=seed):
            found = real_listdir(path)
            return [found[i] for i in np.random.RandomState(seed).permutation(len(found))]

        monkeypatch.setattr(os, "listdir", shuffled)
        assert ev.evaluate(tmp_path / "gt", tmp_path / "pred")["per_joint"] == expected["per_joint"]


def test_interleaving_frames_in_a_file_does_not_move_ap(tmp_path):
    """Ties keep the order (file, frame, person in the frame's list): a file that lists its annotations in another
    frame order, each frame's own list unchanged, scores the same."""
    _tied_case(tmp_path)
    expected = ev.evaluate(tmp_path / "gt", tmp_path / "pred")
    rng = np.random.RandomState(0)
    for f in (tmp_path / "pred").glob("*.json"):
        doc = json.loads(f.read_text())
        anns = doc["annotations"]
        keys = {img["id"]: rng.rand() for img in doc["images"]}  # a random frame order, per-frame order kept
        doc["annotations"] = sorted(anns, key=lambda a: keys[a["image_id"]])
        assert doc["annotations"] != anns
        f.write_text(json.dumps(doc))
    assert ev.evaluate(tmp_path / "gt", tmp_path / "pred")["per_joint"] == expected["per_joint"]


def test_equal_scores_keep_their_order_of_appearance(tmp_path):
    """One frame, two GT people; a false positive listed before a true positive, both scored 1.0. The stable rule
    ranks the false positive first: precision 0 then 1/2 at recall 1/2, AP 25. (poseval's ``argsort()[::-1]`` would
    rank the true positive first here and give 50.)"""
    _tiny(tmp_path)
    gt_path, pred_path = tmp_path / "gt" / "024000_mpii_test.json", tmp_path / "pred" / "024000_mpii_test.json"
    gt, pred = json.loads(gt_path.read_text()), json.loads(pred_path.read_text())
    first = gt["images"][0]["id"]
    other = dict(
        gt["annotations"][0],
        track_id=1,
        keypoints=(np.array(gt["annotations"][0]["keypoints"]) + [500, 0, 0] * 17).tolist(),
    )
    other["keypoints"] = [
        0 if i // 3 in [kp.KEYPOINT_INDEX[e] for e in kp.UNANNOTATED_KEYPOINTS] else v
        for i, v in enumerate(other["keypoints"])
    ]
    gt["images"], gt["annotations"] = gt["images"][:1], [gt["annotations"][0], other]
    true = dict(pred["annotations"][0], scores=[1.0] * 17, track_id=1)
    false = dict(true, track_id=0, keypoints=(np.array(true["keypoints"]) + [0, 900, 0] * 17).tolist())
    pred["images"], pred["annotations"] = pred["images"][:1], [false, true]
    assert all(a["image_id"] == first for a in gt["annotations"] + pred["annotations"])
    gt_path.write_text(json.dumps(gt))
    pred_path.write_text(json.dumps(pred))
    assert ev.evaluate(tmp_path / "gt", tmp_path / "pred")["Total"] == pytest.approx(25.0)
    pred["annotations"] = [true, false]
    pred_path.write_text(json.dumps(pred))
    assert ev.evaluate(tmp_path / "gt", tmp_path / "pred")["Total"] == pytest.approx(50.0)


@pytest.mark.parametrize("seed", range(3))
def test_agrees_with_official_poseval_when_installed(tmp_path, seed):
    """Runs only where the official package is importable (it is not on PyPI); CI relies on the expected.json cases
    and the plain reference above. Scores are made distinct: on ties, stock poseval depends on the machine."""
    pytest.importorskip("poseval")
    make_case(
        tmp_path,
        CaseConfig(
            sequences=4,
            frames=6,
            persons=4,
            seed=seed,
            noise=0.2 + 0.3 * seed,
            ignore_region_prob=0.4,
            unlabeled_frames=2,
            fp_per_frame=2.0,
        ),
    )
    _untie(tmp_path / "pred", seed)
    ours = ev.evaluate(tmp_path / "gt", tmp_path / "pred")
    official = ev.evaluate_poseval(tmp_path / "gt", tmp_path / "pred")
    assert np.allclose(ours["per_joint"], official["per_joint"], atol=1e-9)


def test_writer_for_posetrack17_gt(tmp_path):
    """Predictions for PoseTrack17 GT pair with its frames by image name and score 100 when they equal the GT."""
    from dsta.data.posetrack import read_sequence

    name = "images/bonn/000001_bonn_train/00001.jpg"
    points = [{"id": [pid], "x": [100.0 + 5 * pid], "y": [50.0 + 9 * pid], "is_visible": [1]} for pid in range(15)]
    doc = {
        "annolist": [
            {
                "image": [{"name": name}],
                "is_labeled": [1],
                "annorect": [
                    {"x1": [0], "y1": [0], "x2": [40], "y2": [40], "track_id": [0], "annopoints": [{"point": points}]}
                ],
            }
        ]
    }
    _write(tmp_path / "gt" / "000001_bonn_train.json", doc)
    seq = read_sequence(tmp_path / "gt" / "000001_bonn_train.json")
    person = seq.frames[0].persons[0]
    pred = ev.PosePrediction(image_id=seq.frames[0].image_id, keypoints=person.keypoints, scores=np.full(17, 0.9))
    ev.write_predictions(tmp_path / "gt", [pred], tmp_path / "pred")
    assert ev.evaluate(tmp_path / "gt", tmp_path / "pred")["Total"] == pytest.approx(100.0)


def test_posetrack17_gt_without_head_box_names_the_rect(tmp_path):
    points = [{"id": [0], "x": [10.0], "y": [20.0]}]
    doc = {
        "annolist": [
            {
                "image": [{"name": "a/000001_bonn_train/00001.jpg"}],
                "annorect": [{"track_id": [0], "annopoints": [{"point": points}]}],
            }
        ]
    }
    _write(tmp_path / "gt" / "s.json", doc)
    _write(tmp_path / "pred" / "s.json", doc)
    with pytest.raises(DataError, match=r"s.json: annolist\[0\].annorect\[0\].x1: GT person with keypoints"):
        ev.evaluate(tmp_path / "gt", tmp_path / "pred")


# ---- issue 22: poseval's meaning where it has one, one error where it has none ----
def _edit(path: Path, mutate) -> None:
    doc = json.loads(path.read_text())
    mutate(doc)
    path.write_text(json.dumps(doc))


def test_gt_head_box_of_zero_size_is_refused(tmp_path):
    _tiny(tmp_path)
    gt = tmp_path / "gt" / "024000_mpii_test.json"
    _edit(gt, lambda d: d["annotations"][0].update(bbox_head=[10, 10, 0, 0]))
    with pytest.raises(DataError, match="head box has zero size") as err:
        ev.evaluate(tmp_path / "gt", tmp_path / "pred")
    assert err.value.path == str(gt) and err.value.field == "annotations[0].bbox_head"


def test_gt_head_box_of_negative_size_keeps_poseval_meaning(tmp_path):
    # poseval measures the diagonal's length: x2 - x1 = -50 gives the same PCKh threshold as +50
    head = 0.6 * np.hypot(50, 50)
    _tiny(tmp_path, pred_xy_shift=(0.5 * head - 0.01) / np.sqrt(2))
    _edit(tmp_path / "gt" / "024000_mpii_test.json", lambda d: d["annotations"][0].update(bbox_head=[50, 50, -50, -50]))
    assert ev.evaluate(tmp_path / "gt", tmp_path / "pred")["Total"] == pytest.approx(100.0)


@pytest.mark.parametrize("which", ["gt", "pred"])
def test_numbers_written_as_strings_are_refused(tmp_path, which):
    _tiny(tmp_path)
    path = tmp_path / which / "024000_mpii_test.json"

    def mutate(d):
        d["annotations"][0]["keypoints"][3] = str(d["annotations"][0]["keypoints"][3])

    _edit(path, mutate)
    with pytest.raises(DataError, match="expected a number, got '") as err:
        ev.evaluate(tmp_path / "gt", tmp_path / "pred")
    assert err.value.path == str(path) and err.value.field == "annotations[0].keypoints[3]"


def test_prediction_without_gt_sequence_is_ignored_and_said(tmp_path, capsys):
    _tiny(tmp_path)
    shutil.copy(tmp_path / "pred" / "024000_mpii_test.json", tmp_path / "pred" / "999999_other.json")
    assert ev.evaluate(tmp_path / "gt", tmp_path / "pred")["Total"] == pytest.approx(100.0)  # poseval: ignored
    assert "1 prediction file(s) without a GT sequence" in capsys.readouterr().err


def test_directory_named_like_a_gt_file_is_named_as_such(tmp_path):
    _tiny(tmp_path)
    (tmp_path / "gt" / "000001_dir.json").mkdir()
    with pytest.raises(DataError, match="a directory, not a GT file") as err:
        ev.evaluate(tmp_path / "gt", tmp_path / "pred")
    assert err.value.path == str(tmp_path / "gt" / "000001_dir.json")


@pytest.mark.parametrize("kind", ["file", "dir_json"])
def test_cli_out_that_cannot_be_written_fails_before_scoring(tmp_path, kind, capsys):
    _tiny(tmp_path)
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("keep me")
        target = out / "metrics.json"
    else:
        (tmp_path / "metrics.json").mkdir()
        target = tmp_path / "metrics.json"
    with pytest.raises(SystemExit):
        ev.main(["--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--out", str(target)])
    err = capsys.readouterr()
    assert err.err.count("\n") == 1 and "--out" in err.err and "Average Precision" not in err.out
    assert kind != "file" or out.read_text() == "keep me"


def test_cli_removes_temporary_files_of_a_killed_write(tmp_path):
    _tiny(tmp_path)
    out = tmp_path / "eval"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    stale = out / ".metrics.json.abc123.tmp"
    stale.write_text("{half")
    ev.main(["--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--out", str(out / "metrics.json")])
    assert not stale.exists() and json.loads((out / "metrics.json").read_text())["Total"] == pytest.approx(100.0)
