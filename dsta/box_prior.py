"""The box prior: what a model that sees nothing of the image scores, the chance level of a top-down table.

Its "training" is the training set's mean pose, normalised to the box: each annotated joint's position in the crop
(``x / W``, ``y / H`` of the network input, cut from the GT box as every model's input is, no augmentation), averaged
over the persons where it is annotated and inside the crop. Its prediction places that one pose in every val box
(GT or detected), through the same crop geometry and evaluation as ``dsta.predict``; every joint scores the box's
score (1 for GT boxes), so detections rank as the detector ranks them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from dsta.data.dataset import TopDownClipDataset, make_dataset
from dsta.data.transforms import crop_to_image
from dsta.evaluate import PosePrediction


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
            xy = crop_to_image(crop_xy, batch["center"][i].numpy(), batch["scale"][i].numpy(),
                               float(batch["rotation"][i]), dataset.input_size)
            box_score = float(batch["box_score"][i])
            out.append(PosePrediction(image_id=int(batch["image_id"][i]), keypoints=xy,
                                      scores=np.full(len(xy), box_score), box=sample.box, box_score=box_score,
                                      track_id=int(batch["track_id"][i])))
    return out
