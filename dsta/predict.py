"""Run a checkpoint over a split, write PoseTrack18 prediction files, and score them (the evaluate stage).

``python -m dsta.predict --checkpoint CKPT --data-root DIR --out DIR [--boxes gt|DETS.json] [--flip]``

Everything about the model and the data pipeline (input size, T, frame distance) comes from the checkpoint's own
config; only paths and the test-time options are arguments. Writes ``OUT/predictions/*.json`` and
``OUT/metrics.json`` (poseval's columns; on data with a ``corrupted`` image flag, also clean vs corrupted).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from dsta import inference
from dsta.core.configs import int_at_least, num_frames_of
from dsta.core.errors import DataError, doc_summary, main_guard
from dsta.core.io import check_out_dir, remove_stale_temps, write_json
from dsta.core.provenance import provenance
from dsta.data.dataset import TopDownClipDataset, make_dataset
from dsta.data.marker import not_configured
from dsta.data.transforms import crop_to_image
from dsta.evaluate import PosePrediction, evaluate, to_json, write_predictions
from dsta.inference import InferenceOptions, batch_runner
from dsta.models import load_checkpoint, model_target, read_checkpoint
from dsta.nn.checkpoint import add_trust_argument
from dsta.objectives import flip_back, objective_for


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    objective,
    dataset: TopDownClipDataset,
    device: torch.device,
    batch_size: int = 32,
    workers: int = 0,
    flip: bool = False,
    options: InferenceOptions | None = None,
) -> list[PosePrediction]:
    """Predictions for every sample of ``dataset``, in image coordinates; ``options``: dtype, channels-last, compile,
    CUDA graphs (``dsta.inference``; default fp32)."""
    run = batch_runner(model, (options or InferenceOptions()).check(device), device, batch_size)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    width = dataset.input_size[0]
    out: list[PosePrediction] = []
    for batch in loader:
        images = batch["image"].to(device)
        coords, scores = objective.decode(run(images))
        if flip:
            f_coords, f_scores = objective.decode(run(torch.flip(images, dims=[-1])))
            f_coords, f_scores = flip_back(f_coords, f_scores, width)
            coords, scores = (coords + f_coords) / 2, (scores + f_scores) / 2
        for i in range(len(images)):
            xy = crop_to_image(
                coords[i],
                batch["center"][i].numpy(),
                batch["scale"][i].numpy(),
                float(batch["rotation"][i]),
                dataset.input_size,
            )
            sample = dataset.samples[int(batch["index"][i])]
            # the joint score written for evaluation is joint confidence x box score, as the releases write it
            # (DCPose datasets/process/keypoints_ord.py::coco2posetrack_ord, also DSTA's); GT boxes score 1
            box_score = float(batch["box_score"][i])
            out.append(
                PosePrediction(
                    image_id=int(batch["image_id"][i]),
                    keypoints=xy,
                    scores=scores[i] * box_score,
                    box=sample.box,
                    box_score=box_score,
                    track_id=int(batch["track_id"][i]),
                )
            )
    return out


# More than this fraction of a split's boxes outside their image, or of its labeled frames with people left without
# a usable box (their boxes named no frame of the split, or lie outside it), is an error: the box file belongs to
# another split, release or image size, and its mAP would be a wrong number. Below it, the counts are reported.
BOX_LIMIT = 0.25


def _outside(box, width, height) -> bool:
    x, y, w, h = box
    return x >= width or y >= height or x + w <= 0 or y + h <= 0


def check_boxes(dataset: TopDownClipDataset, path) -> dict | None:
    """Count what a detection file gives the split (None with GT boxes): boxes matching no frame, boxes outside their
    image, labeled frames with people but no usable box; print the counts and refuse past ``BOX_LIMIT``."""
    det = dataset.detections
    if det is None:
        return None
    boxes = outside = frames = bare = 0
    for seq in dataset.sequences:
        for frame in seq.frames:
            usable = 0
            for d in det.by_image.get(frame.image_id, []):
                boxes += 1
                if frame.width and frame.height and _outside(d.box, frame.width, frame.height):
                    outside += 1
                else:
                    usable += 1
            if frame.is_labeled and frame.persons:
                frames += 1
                bare += usable == 0
    report = {
        "boxes": boxes,
        "unmatched_boxes": det.unmatched_boxes,
        "outside_image": outside,
        "labeled_frames": frames,
        "labeled_frames_without_box": bare,
    }
    print(
        f"{path}: {boxes} boxes on frames of the split, {det.unmatched_boxes} matching no frame "
        f"(e.g. {[str(k) for k in det.unmatched_keys[:3]]}), {outside} outside their image; {bare} of {frames} "
        f"labeled frames with people have no usable box",
        file=sys.stderr,
    )
    if outside > BOX_LIMIT * boxes:
        raise DataError(
            path,
            "bbox",
            f"{outside} of {boxes} boxes lie outside their image (more than "
            f"{BOX_LIMIT:.0%}): boxes of another image size or release?",
        )
    if bare > BOX_LIMIT * frames:
        raise DataError(
            path,
            "image_id" if det.unmatched_keys and isinstance(det.unmatched_keys[0], int) else "image_name",
            f"{bare} of {frames} labeled frames with people get no usable box (more "
            f"than {BOX_LIMIT:.0%}); {det.unmatched_boxes} boxes match no frame of "
            f"the split: boxes of another split or naming scheme?",
        )
    return report


def score(predictions: list[PosePrediction], dataset: TopDownClipDataset, out_dir: Path) -> dict:
    """Write the prediction files for the dataset's GT and evaluate them; split by ``corrupted`` where present."""
    gt_dir = Path(dataset.sequences[0].source).parent
    pred_dir = out_dir / "predictions"
    write_predictions(gt_dir, predictions, pred_dir)
    has_flag = any("corrupted" in f.flags for s in dataset.sequences for f in s.frames)
    return evaluate(gt_dir, pred_dir, split_by="corrupted" if has_flag else None)


@main_guard
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data-root", required=True, help="dataset root (the checkpoint's config names the split dirs)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--split", default="val")
    p.add_argument("--boxes", default=None, help="'gt' or a COCO-results detection file (default: the config's)")
    p.add_argument("--flip", action="store_true", help="flip test: average with the mirrored input's prediction")
    p.add_argument("--batch-size", type=int_at_least(1), default=64)
    p.add_argument("--workers", type=int_at_least(0), default=0)
    inference.add_arguments(p)
    add_trust_argument(p)
    a = p.parse_args(argv)
    out = check_out_dir(a.out)  # before the work: a file or read-only --out fails now, not after predicting
    remove_stale_temps(out)
    marker = not_configured(a.data_root)
    if marker is not None:  # the train stage skipped this dataset too
        out = Path(a.out)
        (out / "predictions").mkdir(parents=True, exist_ok=True)
        result = {"skipped": f"dataset not configured ({marker.get('reason', 'no source')})"}
        write_json(out / "metrics.json", result, indent=2)
        print(result["skipped"])
        return result
    ckpt = read_checkpoint(a.checkpoint, a.trust_checkpoint)
    cfg = ckpt.get("config")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("data"), dict) or not isinstance(cfg.get("model"), dict):
        raise DataError(
            a.checkpoint,
            "config",
            "no data and model config in this checkpoint (from an older converter? convert the official file again)",
        )
    if f"{a.split}_ann" not in cfg["data"]:
        known = sorted(k.removesuffix("_ann") for k in cfg["data"] if k.endswith("_ann"))
        raise DataError(
            a.checkpoint, "--split", f"unknown split {a.split!r}; the checkpoint's data config has {', '.join(known)}"
        )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load_checkpoint(a.checkpoint, a.trust_checkpoint).to(device)
    target = model_target(ckpt["model"])
    dataset = make_dataset(
        cfg["data"],
        num_frames_of(ckpt["model"], ckpt["kwargs"]),
        target,
        a.data_root,
        a.split,
        train=False,
        boxes=a.boxes,
        heatmap=cfg["model"].get("heatmap"),
    )
    box_check = check_boxes(dataset, a.boxes or cfg["data"].get("boxes"))
    objective = objective_for(target, dataset.input_size, cfg["model"])
    options = inference.from_args(a).check(device)
    preds = predict(model, objective, dataset, device, a.batch_size, a.workers, a.flip, options)
    metrics = score(preds, dataset, out)
    if box_check is not None:
        metrics["box_check"] = box_check
    metrics.update(
        checkpoint=str(a.checkpoint),
        epoch=ckpt.get("epoch"),
        flip=a.flip,
        inference=options.as_dict(),
        boxes=a.boxes or cfg["data"].get("boxes", "gt"),
        dataset=cfg["data"]["name"],
        model=ckpt["model"],
    )
    metrics["provenance"] = provenance((cfg.get("train") or {}).get("seed"), cfg)
    if ckpt.get("source_sha256"):  # a converted release: which file it was (no release publishes a checksum)
        metrics["provenance"]["weights_sha256"] = ckpt["source_sha256"]
    write_json(out / "metrics.json", to_json(metrics), indent=2)
    split = metrics.get("split") or {}
    subsets = "".join(
        f", {name} {split[key]['Total']:.2f} ({split[key].get('num_frames', '?')} frames)"
        for key, name in (("false", "clean"), ("true", "corrupted"))
        if (split.get(key) or {}).get("Total") is not None
    )
    print(f"{ckpt['model']} on {cfg['data']['name']} {a.split}: mAP {metrics['Total']:.2f}{subsets} -> {out}")
    return metrics


if __name__ == "__main__":
    main()
