"""The robustness grid for a model that does not run here (not PyTorch, not shareable): the corrupted val frames
written out for it, and its prediction files scored into the robustness stage's metrics.

``python -m dsta.robustness_files export --params params.yaml --dataset synthetic --data-root data/synthetic
--num-frames 3 --out corrupted/``

writes, for the clean run and every (corruption, severity, mode) of the ``robustness`` grid (configs/robustness),
``OUT/RUN/clips.json``: one clip per val sample (a labeled frame and a person box: GT boxes or the dataset's detection
file, as the robustness stage uses them), its ``image_id``, ``box`` (x, y, w, h) and ``frames``, the paths (relative
to that ``RUN`` folder) of the T full frames in temporal order, key frame in the middle: exactly the frames the
robustness stage gives a model of this T and frame distance. Corrupted frames are lossless PNGs in
``OUT/frames/CORRUPTION-sSEVERITY/``, written once and shared by the modes (``key``: only the key frame of each
clip corrupted; ``all``: every frame); clean frames are the dataset's own files. ``occlusion`` depends on the person
box (its occluder covers part of it), so its frames are one per (frame, box). ``OUT/runs.json`` lists the runs.

Run your model on each clip (crop the person box of each frame as your model does), write PoseTrack18 prediction
files for each run into ``PRED/RUN/`` (one per val sequence, as ``python -m dsta.evaluate`` reads them), then

``python -m dsta.robustness_files score --export corrupted/ --predictions PRED/ --data-root data/synthetic
--label "Their model" --box-prior box_prior/synthetic.json --out robustness/theirs``

scores every run with the same evaluator, summaries and bootstrap intervals as the robustness stage
(``dsta.robustness``: mPC, rPC, temporal recovery, blank gain) into ``OUT/metrics.json``; ``reporting.build
--robustness`` puts a folder of ``robustness/`` that is no experiment of params.yaml on the robustness page as an
outside model's row (its ``label``). ``tests/test_robustness_files.py`` runs a model of ours through the exported
clips and checks that every run scores exactly what the robustness stage gives it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

import numpy as np

from dsta.config import load_params_section
from dsta.core.configs import check_num_frames, check_robustness, int_at_least
from dsta.core.errors import DataError, doc_summary, main_guard
from dsta.core.io import atomic_dir, check_out_dir, load_json, write_json
from dsta.core.provenance import provenance
from dsta.data.corrupt import corrupt_frame
from dsta.data.dataset import TopDownClipDataset, make_dataset, read_image
from dsta.evaluate import evaluate, to_json
from dsta.evaluate.bootstrap import load_matched
from dsta.robustness import check_box_prior, grid, intervals, summarize

CLEAN = "clean"


def run_name(corruption: str | None, severity: int | None, mode: str | None) -> str:
    """``clean``, ``occlusion-s4-key``, ``blank-all`` (blank has no severity)."""
    if corruption is None:
        return CLEAN
    return "-".join([corruption, *([f"s{severity}"] if severity is not None else []), mode])


def runs_of(section: dict) -> list[tuple[str | None, int | None, str | None]]:
    return [(None, None, None), *grid(section)]


def export(dataset: TopDownClipDataset, section: dict, out: Path, meta: dict) -> dict:
    """Write every run's clips (see the module docstring) into ``out`` (atomically: a failed export leaves nothing);
    returns ``runs.json``."""
    root = dataset.image_root
    with atomic_dir(out) as tmp:
        written: dict[tuple, str] = {}  # (corruption, severity, file name, box or None) -> path under OUT

        def frame_path(corruption, severity, file_name: str, box: np.ndarray) -> str:
            boxed = tuple(float(v) for v in box) if corruption == "occlusion" else None  # as FrameCorruptor keys it
            key = (corruption, severity or 1, file_name, boxed)
            if key not in written:
                stem = hashlib.blake2b(f"{file_name}|{boxed}".encode(), digest_size=8).hexdigest()
                rel = Path("frames", f"{corruption}-s{severity or 1}", f"{stem}.png")
                img = corrupt_frame(read_image(root / file_name), corruption, severity or 1, file_name, box)
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                from PIL import Image

                Image.fromarray(img).save(tmp / rel)
                written[key] = rel.as_posix()
            return written[key]

        runs = []
        for corruption, severity, mode in runs_of(section):
            name = run_name(corruption, severity, mode)
            clips = []
            for index, sample in enumerate(dataset.samples):
                seq = dataset.sequences[sample.seq]
                frames = []
                for i in dataset.clip_frames(index):
                    file_name = seq.frames[i].file_name
                    if corruption is None or (mode == "key" and i != sample.frame):
                        path = Path(os.path.relpath(root / file_name, out / name)).as_posix()
                    else:
                        path = "../" + frame_path(corruption, severity, file_name, sample.box)
                    frames.append(path)
                clips.append(
                    {
                        "image_id": int(seq.frames[sample.frame].image_id),
                        "sequence": Path(seq.source).name,
                        "box": [float(v) for v in sample.box],
                        "box_score": float(sample.box_score),
                        "frames": frames,
                    }
                )
            write_json(
                tmp / name / "clips.json",
                {"run": {"corruption": corruption, "severity": severity, "mode": mode}, "clips": clips},
                indent=1,
            )
            runs.append({"name": name, "corruption": corruption, "severity": severity, "mode": mode})
        doc = {**meta, "grid": section, "runs": runs, "samples": len(dataset.samples)}
        write_json(tmp / "runs.json", doc, indent=2)
    return doc


def score(export_dir: Path, predictions: Path, gt_dir: Path, resamples: int = 1000, seed: int = 0) -> dict:
    """Every run's predictions (``predictions/RUN/``) scored and summarized as the robustness stage does."""
    doc = load_json(export_dir / "runs.json")
    matched, runs = {}, []
    clean = None
    for run in doc["runs"]:
        pred_dir = predictions / run["name"]
        if not pred_dir.is_dir():
            raise DataError(
                pred_dir,
                None,
                f"no predictions for run {run['name']} (one folder per run of {export_dir / 'runs.json'})",
            )
        key = (run["corruption"], run["severity"], run["mode"])
        total = float(evaluate(gt_dir, pred_dir)["Total"])
        matched[key] = load_matched(gt_dir, pred_dir)
        if run["corruption"] is None:
            clean = total
        else:
            runs.append(
                {"corruption": run["corruption"], "severity": run["severity"], "mode": run["mode"], "mAP": total}
            )
    out = summarize(clean, runs, list(doc["grid"]["modes"]))
    out.update(intervals(matched, runs, resamples, seed))
    return out


@main_guard
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="write the corrupted val clips of the robustness grid")
    e.add_argument("--params", default="params.yaml", help="the composed params: `robustness`, `box_prior.DATASET`")
    e.add_argument("--dataset", required=True, help="a key of `box_prior` in params (its val data settings)")
    e.add_argument("--data-root", required=True)
    e.add_argument("--num-frames", type=int_at_least(1), required=True, help="T of your model's clips (odd)")
    e.add_argument("--frame-distance", type=int_at_least(1), default=1, help="d between the frames of a clip")
    e.add_argument("--boxes", default=None, help="'gt' or a detection file (default: the data config's)")
    e.add_argument("--out", required=True, help="a new folder (replaced if it exists)")
    s = sub.add_parser("score", help="score your prediction files of every exported run")
    s.add_argument("--export", required=True, help="the export folder (its runs.json)")
    s.add_argument("--predictions", required=True, help="PRED/RUN/*.json, PoseTrack18 files, one folder per run")
    s.add_argument("--data-root", required=True)
    s.add_argument("--label", required=True, help="the model's name in the report")
    s.add_argument("--box-prior", help="the box_prior stage's file for this dataset (the chance level beside it)")
    s.add_argument("--out", required=True, help="output folder (metrics.json); robustness/NAME for the report")
    a = p.parse_args(argv)
    if a.command == "export":
        check_num_frames(a.num_frames, "--num-frames")
        out = Path(a.out).resolve()
        if Path(a.data_root).resolve() in (out, *out.parents):  # the export replaces --out: never over the data
            raise DataError(a.out, "--out", f"contains the data root {a.data_root}; write the export elsewhere")
        check_out_dir(out.parent)
        section = check_robustness(load_params_section(a.params, "robustness"))
        data = {**load_params_section(a.params, f"box_prior.{a.dataset}"), "frame_distance": a.frame_distance}
        dataset = make_dataset(data, a.num_frames, "regression", a.data_root, "val", train=False, boxes=a.boxes)
        meta = {
            "dataset": a.dataset,
            "data_root": a.data_root,
            "num_frames": a.num_frames,
            "frame_distance": a.frame_distance,
            "boxes": a.boxes or data.get("boxes", "gt"),
            "gt_dir": Path(os.path.relpath(Path(dataset.sequences[0].source).parent, a.data_root)).as_posix(),
        }
        doc = export(dataset, section, Path(a.out), meta)
        print(f"wrote {a.out}: {len(doc['runs'])} runs of {doc['samples']} clips (T={a.num_frames})")
        return doc
    out = check_out_dir(a.out)
    export_dir = Path(a.export)
    doc = load_json(export_dir / "runs.json")
    for field in ("runs", "grid", "gt_dir", "dataset", "boxes", "num_frames"):
        if field not in doc:
            raise DataError(
                export_dir / "runs.json", field, "missing (write it with python -m dsta.robustness_files export)"
            )
    gt_dir = Path(a.data_root) / doc["gt_dir"]
    result = score(export_dir, Path(a.predictions), gt_dir)
    result.update(
        model=a.label,
        label=a.label,
        source="predictions",
        num_frames=doc["num_frames"],
        dataset=doc["dataset"],
        boxes=doc["boxes"],
        grid=doc["grid"],
    )
    if a.box_prior:
        prior = check_box_prior(a.box_prior, doc["dataset"], doc["boxes"], "val")
        result["box_prior"] = {k: prior[k] for k in ("boxes", "gt_boxes", "columns")}
    result["provenance"] = provenance(None, doc)
    write_json(out / "metrics.json", to_json(result), indent=2)
    print(f"{a.label}: clean {result['clean']:.2f}, mPC " + ", ".join(f"{m} {v:.2f}" for m, v in result["mPC"].items()))
    return result


if __name__ == "__main__":
    main()
