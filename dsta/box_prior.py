"""The box prior: what a model that sees nothing of the image scores, the chance level of a top-down table.

Its "training" is the training set's mean pose, normalised to the box: each annotated joint's position in the crop
(``x / W``, ``y / H`` of the network input, cut from the GT box as every model's input is, no augmentation), averaged
over the persons where it is annotated and inside the crop. Its prediction places that one pose in every val box
(GT or detected), through the same crop geometry and evaluation as ``dsta.predict``; every joint scores the box's
score (1 for GT boxes), so detections rank as the detector ranks them.

The ``box_prior`` stage computes it once per dataset and box protocol (the detection file of the params' data
section, and GT boxes): ``python -m dsta.box_prior --params params.yaml --dataset NAME --data-root DIR --out FILE``
reads ``box_prior.NAME`` of params.yaml (the crop geometry every experiment on that dataset shares, derived by
``python -m dsta.config``) and writes the mean pose and both mAPs with their poseval columns; the robustness stage
puts them beside each model's numbers.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from dsta.config import load_params_section
from dsta.core import keypoints as kp
from dsta.core.errors import main_guard
from dsta.core.io import check_out_file, write_json
from dsta.core.provenance import provenance
from dsta.data.dataset import TopDownClipDataset, make_dataset
from dsta.data.marker import not_configured
from dsta.data.transforms import crop_to_image
from dsta.evaluate import PosePrediction, to_json
from dsta.predict import score


def fit(data: dict, data_root: str | Path, batch_size: int = 64) -> np.ndarray:
    """(17, 2) mean normalised crop position of each joint over the training split's persons (GT boxes)."""
    train = make_dataset(data, 1, "regression", data_root, "train", train=False, boxes="gt")
    total, count = np.zeros((17, 2)), np.zeros((17, 2))
    for batch in DataLoader(train, batch_size=batch_size, shuffle=False, num_workers=0):
        mask = (batch["coord_weight"].numpy() > 0).astype(np.float64)
        total += (batch["coords"].numpy() * mask).sum(0)
        count += mask.sum(0)
    return np.where(count > 0, total / np.maximum(count, 1), 0.5)


def predict(mean_pose: np.ndarray, dataset: TopDownClipDataset, batch_size: int = 64) -> list[PosePrediction]:
    """The mean pose placed in every box of ``dataset``, in image coordinates."""
    out = []
    crop_xy = mean_pose * np.array(dataset.input_size, dtype=np.float64)
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
        for i in range(len(batch["index"])):
            sample = dataset.samples[int(batch["index"][i])]
            xy = crop_to_image(
                crop_xy,
                batch["center"][i].numpy(),
                batch["scale"][i].numpy(),
                float(batch["rotation"][i]),
                dataset.input_size,
            )
            box_score = float(batch["box_score"][i])
            out.append(
                PosePrediction(
                    image_id=int(batch["image_id"][i]),
                    keypoints=xy,
                    scores=np.full(len(xy), box_score),
                    box=sample.box,
                    box_score=box_score,
                    track_id=int(batch["track_id"][i]),
                )
            )
    return out


def compute(data: dict, data_root: str | Path, split: str = "val") -> dict:
    """The box prior of ``data`` on ``split``: its mAP with the data section's boxes (``boxes``) and with GT boxes
    (``gt_boxes``, the same when the section's boxes are GT), each protocol's poseval columns, and the mean pose."""
    data = {**data, "frame_distance": 1, "max_frame_distance": 1}  # one frame per clip: no neighbours to space
    mean_pose = fit(data, data_root)
    dataset = make_dataset(data, 1, "regression", data_root, split, train=False)
    with_gt = (
        dataset
        if data.get("boxes", "gt") == "gt"
        else make_dataset(data, 1, "regression", data_root, split, train=False, boxes="gt")
    )
    with tempfile.TemporaryDirectory() as tmp:
        metrics = {
            "boxes": score(predict(mean_pose, dataset), dataset, Path(tmp) / "boxes"),
            "gt_boxes": score(predict(mean_pose, with_gt), with_gt, Path(tmp) / "gt"),
        }
    out: dict = {k: float(m["Total"]) for k, m in metrics.items()}
    out["columns"] = {k: {c: float(m[c]) for c in kp.POSEVAL_COLUMNS} for k, m in metrics.items()}
    out["mean_pose"] = mean_pose.tolist()
    return out


@main_guard
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description="The box prior of one dataset: the chance level of its tables.")
    p.add_argument("--params", default="params.yaml", help="the composed params (its `box_prior.DATASET` section)")
    p.add_argument("--dataset", required=True, help="a key of `box_prior` in params")
    p.add_argument("--data-root", required=True)
    p.add_argument("--out", required=True, help="the JSON file to write")
    p.add_argument("--split", default="val")
    a = p.parse_args(argv)
    data = load_params_section(a.params, f"box_prior.{a.dataset}")
    check_out_file(a.out, "--out")
    marker = not_configured(a.data_root)
    if marker is not None:  # the train and evaluate stages skip this dataset too
        result = {"skipped": f"dataset not configured ({marker.get('reason', 'no source')})"}
    else:
        result = compute(data, a.data_root, a.split)
        result.update(
            dataset=a.dataset,
            split=a.split,
            boxes_file=data.get("boxes", "gt"),
            data=data,
            provenance=provenance(None, data),
        )
    write_json(a.out, to_json(result), indent=2)
    print(
        result.get("skipped")
        or f"box prior of {a.dataset} {a.split}: {result['boxes']:.2f} mAP with "
        f"{result['boxes_file']}, {result['gt_boxes']:.2f} with GT boxes -> {a.out}"
    )
    return result


if __name__ == "__main__":
    main()
