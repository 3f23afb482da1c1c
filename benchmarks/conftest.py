"""Shared fixtures of the benchmark suite (``pytest benchmarks --benchmark-only``)."""

import pytest

from dsta.eval_cases import CaseConfig, make_case


@pytest.fixture(scope="session")
def eval_case_50x30x5(tmp_path_factory):
    """50 sequences x 30 labeled frames x 5 people, noisy predictions with false negatives and false positives."""
    root = tmp_path_factory.mktemp("eval_case")
    make_case(
        root,
        CaseConfig(
            sequences=50,
            frames=30,
            persons=5,
            noise=0.3,
            drop_prob=0.1,
            fp_per_frame=1.0,
            ignore_region_prob=0.1,
            seed=0,
        ),
    )
    return root


@pytest.fixture(scope="session")
def synthetic_small(tmp_path_factory):
    """A small synthetic dataset (4 train / 2 val videos of 12 frames)."""
    from dsta.data.synthetic import SyntheticConfig, generate

    root = tmp_path_factory.mktemp("synthetic") / "ds"
    generate(root, SyntheticConfig(train_sequences=4, val_sequences=2, frames=12))
    return root


@pytest.fixture(scope="session")
def posetrack18_100k_people(tmp_path_factory):
    """One PoseTrack18 annotation file with 100,000 people (20,000 frames x 5), about as many person annotations as
    the whole PoseTrack18 train split: keypoints with ears absent, boxes, head boxes, track ids."""
    import numpy as np

    from dsta.core import keypoints as kp
    from dsta.core.io import write_json

    rng = np.random.RandomState(0)
    frames, per_frame = 20_000, 5
    images = [
        {
            "id": 10_000_000_000 + t,
            "file_name": f"images/train/000001_bonn_train/{t:06d}.jpg",
            "frame_id": t,
            "is_labeled": True,
            "width": 1280,
            "height": 720,
        }
        for t in range(frames)
    ]
    kps = np.concatenate(
        [
            rng.uniform(50, 600, (frames * per_frame, kp.NUM_KEYPOINTS, 2)).round(1),
            np.ones((frames * per_frame, kp.NUM_KEYPOINTS, 1)),
        ],
        2,
    )
    kps[:, [kp.KEYPOINT_INDEX[e] for e in kp.UNANNOTATED_KEYPOINTS]] = 0
    flat = kps.reshape(len(kps), -1).tolist()
    anns = [
        {
            "id": n,
            "image_id": 10_000_000_000 + n // per_frame,
            "track_id": n % per_frame,
            "category_id": 1,
            "keypoints": flat[n],
            "bbox": [40.0, 40.0, 600.0, 600.0],
            "bbox_head": [60.0, 50.0, 40.0, 45.0],
        }
        for n in range(len(flat))
    ]
    path = tmp_path_factory.mktemp("posetrack18_train") / "000001_bonn_train.json"
    write_json(
        path,
        {
            "images": images,
            "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": list(kp.KEYPOINT_NAMES)}],
        },
    )
    return path


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """The project's own provenance block in ``--benchmark-json``: pytest-benchmark's ``commit_info`` calls the tree
    dirty when any tracked file differs, pipeline outputs included (they change while ``dvc repro`` runs), where
    ``dsta.core.provenance`` looks at the source only."""
    from dsta.core.provenance import provenance

    output_json["provenance"] = provenance()
