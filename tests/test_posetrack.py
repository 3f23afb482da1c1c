import json
from pathlib import Path

import numpy as np
import pytest

from dsta.core import keypoints as kp
from dsta.core.errors import DataError
from dsta.data import posetrack as pt

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "posetrack18-sample"
VAL = SAMPLE / "annotations" / "val"


def test_posetrack18_reader_on_real_files_matches_raw_json():
    for path in sorted(VAL.glob("*.json")):
        raw = json.loads(path.read_text())
        seq = pt.read_sequence(path)
        assert seq.format == "posetrack18"
        assert seq.name == path.stem
        assert len(seq.frames) == len(raw["images"])
        frame = seq.frames[0]
        img = raw["images"][0]
        assert frame.image_id == img["id"] and frame.file_name == img["file_name"]
        assert frame.is_labeled == img["is_labeled"]
        assert frame.width == img["width"] and frame.height == img["height"]
        assert len(frame.ignore_regions) == len(img["ignore_regions_x"])
        for region, xs, ys in zip(frame.ignore_regions, img["ignore_regions_x"], img["ignore_regions_y"]):
            assert np.array_equal(region[:, 0], xs) and np.array_equal(region[:, 1], ys)
        anns = [a for a in raw["annotations"] if a["image_id"] == img["id"]]
        assert len(frame.persons) == len(anns)
        for person, ann in zip(frame.persons, anns):
            k = np.array(ann["keypoints"], float).reshape(17, 3)
            assert np.allclose(person.keypoints, k[:, :2])
            assert np.array_equal(person.visible > 0, ~((k[:, 0] == 0) & (k[:, 1] == 0) & (k[:, 2] == 0)))
            assert np.allclose(person.head_box, ann["bbox_head"]) and np.allclose(person.box, ann["bbox"])
            assert person.track_id == ann["track_id"]
            for ear in kp.UNANNOTATED_KEYPOINTS:
                assert person.visible[kp.KEYPOINT_INDEX[ear]] == 0


def test_split_reader_and_detections():
    seqs = pt.read_split(VAL)
    assert [s.name for s in seqs] == ["003418_mpii_test", "009473_mpii_test", "012834_mpii_test"]
    dets = pt.read_detections(SAMPLE / "annotations" / "test_posetrack18_human_detections.json", 0.5)
    raw = json.loads((SAMPLE / "annotations" / "test_posetrack18_human_detections.json").read_text())
    assert sum(len(v) for v in dets.values()) == sum(1 for d in raw if d["score"] >= 0.5 and d["category_id"] == 1)
    first = raw[0]
    assert any(np.allclose(d.box, first["bbox"]) for d in dets[first["image_id"]])


def _pt17_doc():
    # one labeled frame with one person (head_top, nose, right_ankle annotated) and an ignore region
    return {
        "annolist": [
            {
                "image": [{"name": "images/bonn/000001_bonn_train/00001.jpg"}],
                "imgnum": [1],
                "is_labeled": [1],
                "annorect": [
                    {
                        "x1": [10],
                        "y1": [20],
                        "x2": [40],
                        "y2": [60],
                        "track_id": [3],
                        "annopoints": [
                            {
                                "point": [
                                    {"id": [14], "x": [25.0], "y": [22.0], "is_visible": [1]},
                                    {"id": [13], "x": [26.0], "y": [40.0], "is_visible": [1]},
                                    {"id": [0], "x": [30.0], "y": [200.0], "is_visible": [0]},
                                ]
                            }
                        ],
                    }
                ],
                "ignore_regions": [{"point": [{"x": [0], "y": [0]}, {"x": [5], "y": [0]}, {"x": [5], "y": [5]}]}],
            },
            {
                "image": [{"name": "images/bonn/000001_bonn_train/00002.jpg"}],
                "imgnum": [2],
                "is_labeled": [0],
                "annorect": [],
            },
        ]
    }


def test_posetrack17_reader(tmp_path):
    path = tmp_path / "000001_bonn_train.json"
    path.write_text(json.dumps(_pt17_doc()))
    seq = pt.read_sequence(path)
    assert seq.format == "posetrack17" and len(seq.frames) == 2
    f0, f1 = seq.frames
    assert f0.is_labeled and not f1.is_labeled
    assert f0.image_id == 2 * 10**10 + 1 * 10**4 + 1
    p = f0.persons[0]
    assert p.track_id == 3
    assert np.allclose(p.head_box, [10, 20, 30, 40])
    assert np.allclose(p.keypoints[kp.KEYPOINT_INDEX["head_top"]], [25, 22])
    assert np.allclose(p.keypoints[kp.KEYPOINT_INDEX["nose"]], [26, 40])
    assert np.allclose(p.keypoints[kp.KEYPOINT_INDEX["right_ankle"]], [30, 200])
    assert p.num_keypoints == 3
    assert p.box is not None  # derived from the keypoints
    assert f0.ignore_regions[0].shape == (3, 2)


def test_posetrack21_reader(tmp_path):
    doc = {
        "images": [
            {
                "id": 7,
                "file_name": "images/val/000342_mpii_test/000000.jpg",
                "is_labeled": True,
                "frame_id": 7,
                "vid_id": "000342",
            }
        ],
        "annotations": [
            {
                "image_id": 7,
                "track_id": 1,
                "person_id": 1234,
                "keypoints": list(range(1, 52)),
                "bbox": [1, 2, 30, 40],
                "bbox_head": [3, 4, 5, 6],
            }
        ],
        "categories": [{"keypoints": list(kp.KEYPOINT_NAMES), "name": "person"}],
    }
    d = tmp_path / "posetrack_data" / "val"
    d.mkdir(parents=True)
    (d / "000342_mpii_test.json").write_text(json.dumps(doc))
    [seq] = pt.read_split(d)
    assert seq.format == "posetrack21"
    p = seq.frames[0].persons[0]
    assert p.person_id == 1234 and p.track_id == 1
    assert np.allclose(p.keypoints[1], [4, 5])


def _pt18(tmp_path, mutate=None) -> Path:
    doc = json.loads((VAL / "009473_mpii_test.json").read_text())
    if mutate:
        mutate(doc)
    path = tmp_path / "009473_mpii_test.json"
    path.write_text(json.dumps(doc) if isinstance(doc, dict) else doc)
    return path


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda d: d["annotations"][1].update(keypoints=[0] * 48), "annotations[1].keypoints"),
        (lambda d: d["images"].append(dict(d["images"][0])), "images[1].id"),
        (lambda d: d.update(images=[], annotations=[]), "images"),
        (lambda d: d["annotations"][0].update(bbox=[5000, 5000, 10, 10]), "annotations[0].bbox"),
        (lambda d: d["annotations"][0].update(bbox=[10, 10, 0, 10]), "annotations[0].bbox"),
        (lambda d: d["annotations"][0]["keypoints"].__setitem__(3, float("nan")), "annotations[0].keypoints[3]"),
        (lambda d: d["annotations"][0].update(image_id=1), "annotations[0].image_id"),
        (
            lambda d: d["annotations"][0]["keypoints"].__setitem__(5, "x"),
            "annotations[0].keypoints[5]: expected a number",
        ),
        (
            lambda d: d["annotations"][0]["keypoints"].__setitem__(7, None),
            "annotations[0].keypoints[7]: expected a number",
        ),
        (lambda d: d["annotations"][0].update(bbox_head=[1, 2, 3]), "annotations[0].bbox_head: expected 4 numbers"),
        (lambda d: d["annotations"][0].update(track_id="a"), "annotations[0].track_id: expected an integer"),
        (lambda d: d["images"][0].pop("file_name"), "images[0].file_name: missing"),
    ],
)
def test_bad_posetrack18_input_names_file_and_field(tmp_path, mutate, field):
    path = _pt18(tmp_path, mutate)
    with pytest.raises(DataError) as err:
        pt.read_sequence(path)
    assert str(err.value).startswith(f"{path}: {field}")


def test_malformed_json_and_unknown_format(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [}')
    with pytest.raises(DataError, match=r"bad.json: line 1 column \d+: malformed JSON"):
        pt.read_sequence(bad)
    bad.write_text('{"frames": []}')
    with pytest.raises(DataError, match="bad.json: unknown format"):
        pt.read_sequence(bad)
    with pytest.raises(DataError, match="file not found"):
        pt.read_sequence(tmp_path / "missing.json")


def test_bad_detections(tmp_path):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"image_id": 1, "bbox": [0, 0, 5, 5], "score": 0.9}, {"image_id": 1, "score": 1}]))
    with pytest.raises(DataError, match=r"dets.json: \[1\].bbox: missing"):
        pt.read_detections(path)


@pytest.mark.parametrize(
    "bad,field",
    [
        ({"image_id": 1, "bbox": [0, 0, 5, "x"], "score": 0.9}, r"\[2\].bbox\[3\]: expected a number"),
        ({"image_id": 1, "bbox": [0, 0, 5], "score": 0.9}, r"\[2\].bbox: expected 4 numbers"),
        ({"image_id": 1, "bbox": [0, 0, 5, 5], "score": None}, r"\[2\].score\[0\]: expected a number, got None"),
        ({"image_id": 1, "bbox": [0, 0, 0, 5], "score": 0.9}, r"\[2\].bbox: box has non-positive size"),
    ],
)
def test_bad_detection_values_name_the_first_bad_one(tmp_path, bad, field):
    good = {"image_id": 1, "bbox": [0, 0, 5, 5], "score": 0.9}
    other_class = {"image_id": 1, "bbox": "not checked", "score": "not checked", "category_id": 2}
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([good, other_class, bad, dict(bad)]))
    with pytest.raises(DataError, match=field):
        pt.read_detections(path)


def test_detections_kept_by_class_and_score(tmp_path):
    path = tmp_path / "dets.json"
    path.write_text(
        json.dumps(
            [
                {"image_name": "images/val/000342_mpii_test/000000.jpg", "bbox": [1, 2, 3, 4], "score": 0.9},
                {"image_name": "images/val/000342_mpii_test/000000.jpg", "bbox": [1, 2, 3, 4], "score": 0.1},
                {
                    "image_name": "images/val/000342_mpii_test/000001.jpg",
                    "bbox": [5, 6, 7, 8],
                    "score": 0.8,
                    "category_id": 2,
                },
            ]
        )
    )
    dets = pt.read_detections(path, score_threshold=0.5)
    assert list(dets) == ["000342_mpii_test/000000.jpg"]
    (d,) = dets["000342_mpii_test/000000.jpg"]
    assert d.box.tolist() == [1, 2, 3, 4] and d.score == 0.9


def test_boxes_from_keypoints_matches_one_person_at_a_time():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (6, kp.NUM_KEYPOINTS, 2))
    vis = rng.uniform(size=(6, kp.NUM_KEYPOINTS)) > 0.5
    vis[2] = False  # nobody there
    vis[3] = False
    vis[3, 4] = True  # one point: the box is 1 x 1 pixel around it
    boxes = pt.boxes_from_keypoints(xy, vis)
    assert np.isnan(boxes[2]).all() and pt.box_from_keypoints(xy[2], vis[2]) is None
    np.testing.assert_allclose(boxes[3], [xy[3, 4, 0] - 0.5, xy[3, 4, 1] - 0.5, 1, 1])
    for n in (0, 1, 4, 5):
        pts = xy[n][vis[n]]
        lo, hi = pts.min(0), pts.max(0)
        extent = np.maximum((hi - lo) * 1.3, 1.0)
        np.testing.assert_allclose(boxes[n], [*((lo + hi) / 2 - extent / 2), *extent])
        np.testing.assert_allclose(pt.box_from_keypoints(xy[n], vis[n]), boxes[n])
