"""The robustness stage: a checkpoint's val mAP with corrupted frames, the key frame only or every frame of each clip.

``python -m dsta.robustness --params params.yaml --checkpoint CKPT --data-root DIR --out DIR [--boxes gt|DETS.json]``

Runs the split through the same prediction and evaluation code as ``dsta.predict`` once clean and once per
(corruption, severity, mode) of the ``robustness`` params section (configs/robustness), corrupting each full frame
before it is cropped (``dsta.data.corrupt``, deterministic). Writes ``OUT/metrics.json``:

- ``clean``: mAP; ``runs``: ``{corruption, severity, mode, mAP}`` for each run (``blank`` once, severity null);
- ``mPC`` per mode: the mean mAP over the corruptions (``blank`` left out) and severities; ``rPC = mPC / clean``
  (Michaelis et al. 2019);
- ``temporal_recovery = rPC(key) - rPC(all)``: a model that uses its neighbour frames loses less when only the key
  frame is corrupted; a single-frame model cannot tell the modes apart (its clip is the key frame alone, so its
  ``all`` results are its ``key`` results, which the stage reuses rather than recomputes: ``same_as_key``);
- ``blank``: mAP with the key frame blank and with every frame blank (what the box alone gives the model), and
  ``blank_neighbour_gain``, the difference: what the neighbours gave it;
- ``temporal_recovery_interval``, ``blank_neighbour_gain_interval``: their 95% paired-bootstrap intervals over the
  val sequences (1,000 resamples, seeded; every run scored on the same resampled sequences);
- ``clean_gt_boxes``: the clean mAP with GT boxes (where ``boxes``, the checkpoint config's, are detections), and
  ``box_prior``: the chance level, the training set's mean pose placed in each box (``dsta.box_prior``), with these
  boxes and with GT boxes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dsta import box_prior
from dsta.config import load_params_section
from dsta.core.configs import check_robustness, num_frames_of
from dsta.core.errors import DataError, doc_summary, main_guard
from dsta.core.io import load_json, write_json
from dsta.core.provenance import provenance
from dsta.data.corrupt import FrameCorruptor
from dsta.data.dataset import make_dataset
from dsta.data.marker import not_configured
from dsta.evaluate import to_json
from dsta.evaluate.bootstrap import Matched, bootstrap_totals, interval, load_matched
from dsta.models import load_checkpoint, model_target, read_checkpoint
from dsta.nn.checkpoint import add_trust_argument
from dsta.objectives import objective_for
from dsta.predict import predict, score

CONTROL = "blank"  # one point, whatever the severity; not part of mPC


def grid(section: dict) -> list[tuple[str, int | None, str]]:
    """The (corruption, severity, mode) runs of a checked ``robustness`` section, ``blank`` once per mode."""
    runs = []
    for corruption in section["corruptions"]:
        for severity in [None] if corruption == CONTROL else section["severities"]:
            for mode in section["modes"]:
                runs.append((corruption, severity, mode))
    return runs


def summarize(clean: float, runs: list[dict], modes: list[str]) -> dict:
    """mPC, rPC, temporal recovery and the blank control from the per-run mAPs (see the module docstring)."""
    out: dict = {"clean": clean, "runs": runs, "mPC": {}, "rPC": {}}
    for mode in modes:
        values = [r["mAP"] for r in runs if r["mode"] == mode and r["corruption"] != CONTROL]
        if values:
            out["mPC"][mode] = float(np.mean(values))
            out["rPC"][mode] = out["mPC"][mode] / clean if clean else float("nan")
    if "key" in out["rPC"] and "all" in out["rPC"]:
        out["temporal_recovery"] = out["rPC"]["key"] - out["rPC"]["all"]
    blank = {r["mode"]: r["mAP"] for r in runs if r["corruption"] == CONTROL}
    if blank:
        out["blank"] = blank
        if "key" in blank and "all" in blank:
            out["blank_neighbour_gain"] = blank["key"] - blank["all"]
    return out


def run_grid(
    model: torch.nn.Module,
    objective,
    dataset,
    device: torch.device,
    section: dict,
    num_frames: int,
    batch_size: int = 64,
    log=print,
    resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """The clean run and every run of the grid on ``dataset`` (val), summarized."""
    gt_dir = Path(dataset.sequences[0].source).parent
    matched: dict[tuple, Matched] = {}  # the evaluator's matched arrays of each run, for the bootstrap

    def evaluate_once(key: tuple, corruptor: FrameCorruptor | None) -> float:
        dataset.frame_transform = corruptor
        try:
            preds = predict(model, objective, dataset, device, batch_size)
        finally:
            dataset.frame_transform = None
        with tempfile.TemporaryDirectory() as tmp:
            total = float(score(preds, dataset, Path(tmp))["Total"])
            matched[key] = load_matched(gt_dir, Path(tmp) / "predictions")
        return total

    start = time.perf_counter()
    clean = evaluate_once((None, None, None), None)
    runs: list[dict] = []
    caches: dict = {}
    for corruption, severity, mode in grid(section):
        row = {"corruption": corruption, "severity": severity, "mode": mode}
        first = next((r for r in runs if r["corruption"] == corruption and r["severity"] == severity), None)
        if num_frames == 1 and first is not None:  # the clip is the key frame alone: every mode is the same run
            row.update(mAP=first["mAP"], same_as_key=True)
            matched[(corruption, severity, mode)] = matched[(corruption, severity, first["mode"])]
        else:
            cache = caches.setdefault((corruption, severity), {})  # the modes share corrupted frames
            row["mAP"] = evaluate_once(
                (corruption, severity, mode), FrameCorruptor(corruption, severity or 1, mode, cache)
            )
        runs.append(row)
        log(f"  {corruption:<16} severity {severity or '-'} {mode:<3}: mAP {row['mAP']:.2f}")
    out = summarize(clean, runs, list(section["modes"]))
    out.update(intervals(matched, runs, resamples, seed))
    out["seconds"] = time.perf_counter() - start
    return out


def intervals(matched: dict[tuple, Matched], runs: list[dict], resamples: int = 1000, seed: int = 0) -> dict:
    """95% paired-bootstrap intervals over val sequences (``dsta.evaluate.bootstrap``: every run scored on the same
    resampled sequences) of the temporal recovery and the blank gain, on this val set."""
    if resamples <= 0 or len(matched) < 2:
        return {}
    totals = bootstrap_totals({str(k): m for k, m in matched.items()}, resamples, seed)
    clean = totals[str((None, None, None))]

    def mpc(mode: str) -> np.ndarray | None:
        keys = [
            str((r["corruption"], r["severity"], mode))
            for r in runs
            if r["mode"] == mode and r["corruption"] != CONTROL
        ]
        return np.mean([totals[k] for k in keys], 0) if keys else None

    out = {"bootstrap": {"resamples": resamples, "seed": seed, "level": 0.95, "unit": "val sequences"}}
    key, every = mpc("key"), mpc("all")
    if key is not None and every is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            out["temporal_recovery_interval"] = list(interval((key - every) / clean))
    blank = {m: totals.get(str((CONTROL, None, m))) for m in ("key", "all")}
    if blank["key"] is not None and blank["all"] is not None:
        out["blank_neighbour_gain_interval"] = list(interval(blank["key"] - blank["all"]))
    return out


def check_box_prior(path: str | Path, dataset: str, boxes: str, split: str, data: dict | None = None) -> dict:
    """The box_prior stage's file, checked to be the prior of ``dataset``'s ``split`` with these ``boxes`` (and, given
    the ``data`` section, the same crop): one error naming the file and the field that differs."""
    prior = load_json(path)
    if "skipped" in prior or "boxes" not in prior or "gt_boxes" not in prior or "columns" not in prior:
        raise DataError(path, "boxes", "no box prior in this file (its dataset was not configured?)")
    if prior.get("dataset") != dataset:
        raise DataError(path, "dataset", f"the prior of {prior.get('dataset')!r}, not of {dataset!r}")
    for key, value in (prior.get("data") or {}).items() if data is not None else ():
        if key not in ("boxes", "input_size") and data.get(key) != value:
            raise DataError(
                path,
                f"data.{key}",
                f"{value!r}, the checkpoint's data.{key} is {data.get(key)!r}: another crop, another prior",
            )
    if prior.get("boxes_file") != boxes or prior.get("split") != split:
        raise DataError(
            path,
            "boxes_file",
            f"the prior of boxes {prior.get('boxes_file')!r} on "
            f"{prior.get('split')!r}, not of {boxes!r} on {split!r} "
            f"(leave out --box-prior to compute it here)",
        )
    return prior


@main_guard
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--params", default="params.yaml", help="the composed params (its `robustness` section)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data-root", required=True)
    p.add_argument("--out", required=True, help="output directory (metrics.json)")
    p.add_argument("--split", default="val")
    p.add_argument("--boxes", default=None, help="'gt' or a detection file (default: the checkpoint config's)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--box-prior", help="the box_prior stage's file for this dataset (default: computed here)")
    add_trust_argument(p)
    a = p.parse_args(argv)
    section = check_robustness(load_params_section(a.params, "robustness"))
    out = Path(a.out)
    marker = not_configured(a.data_root)
    if marker is not None:  # the train and evaluate stages skipped this dataset too
        result = {"skipped": f"dataset not configured ({marker.get('reason', 'no source')})"}
        write_json(out / "metrics.json", result, indent=2)
        print(result["skipped"])
        return result
    ckpt = read_checkpoint(a.checkpoint, a.trust_checkpoint)
    cfg = ckpt["config"]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load_checkpoint(a.checkpoint, a.trust_checkpoint).to(device)
    target = model_target(ckpt["model"])
    num_frames = num_frames_of(ckpt["model"], ckpt["kwargs"])
    dataset = make_dataset(
        cfg["data"],
        num_frames,
        target,
        a.data_root,
        a.split,
        train=False,
        boxes=a.boxes,
        heatmap=cfg["model"].get("heatmap"),
    )
    objective = objective_for(target, dataset.input_size, cfg["model"])
    boxes = a.boxes or cfg["data"].get("boxes", "gt")
    # the chance level: the box_prior stage's file for this dataset (checked before any work), or computed here after
    # the grid (a run outside the pipeline)
    prior = check_box_prior(a.box_prior, cfg["data"]["name"], boxes, a.split, cfg["data"]) if a.box_prior else None
    print(f"{ckpt['model']} (T={num_frames}) on {cfg['data']['name']} {a.split}, boxes {boxes}:")
    result = run_grid(model, objective, dataset, device, section, num_frames, a.batch_size)
    result.update(
        checkpoint=str(a.checkpoint),
        num_frames=num_frames,
        model=ckpt["model"],
        dataset=cfg["data"]["name"],
        boxes=boxes,
        grid=section,
    )
    # the chance level beside it: the box prior (no image), with these boxes and with GT boxes; and the model's
    # clean mAP with GT boxes where these are detections
    with_gt = (
        dataset
        if boxes == "gt"
        else make_dataset(
            cfg["data"],
            num_frames,
            target,
            a.data_root,
            a.split,
            train=False,
            boxes="gt",
            heatmap=cfg["model"].get("heatmap"),
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        result["clean_gt_boxes"] = (
            result["clean"]
            if with_gt is dataset
            else float(
                score(predict(model, objective, with_gt, device, a.batch_size), with_gt, Path(tmp) / "gt")["Total"]
            )
        )
    if prior is None:
        prior = box_prior.compute({**cfg["data"], "boxes": boxes}, a.data_root, a.split)
    result["box_prior"] = {k: prior[k] for k in ("boxes", "gt_boxes", "columns")}
    result["provenance"] = provenance((cfg.get("train") or {}).get("seed"), cfg)
    write_json(out / "metrics.json", to_json(result), indent=2)
    print(
        f"clean {result['clean']:.2f} (GT boxes {result['clean_gt_boxes']:.2f}; box prior "
        f"{result['box_prior']['boxes']:.2f}, GT boxes {result['box_prior']['gt_boxes']:.2f}), mPC "
        + ", ".join(f"{m} {v:.2f}" for m, v in result["mPC"].items())
        + (
            f", temporal recovery {100 * result['temporal_recovery']:+.1f}% of clean mAP"
            if "temporal_recovery" in result
            else ""
        )
        + f" ({result['seconds']:.0f} s) -> {out / 'metrics.json'}"
    )
    return result


if __name__ == "__main__":
    main()
