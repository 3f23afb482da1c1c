"""The prepare stage: one fetched PoseTrack release -> canonical annotations and person-box files.

``python -m dsta.prepare --raw data/raw/posetrack18 --dataset posetrack18 --out data/posetrack18``

Reads every per-sequence annotation file of the train and val splits with the project's readers (so a malformed file
fails here, naming the file and field) and writes, under ``--out``:

* ``annotations/{train,val}/<sequence>.json``: PoseTrack18-format files whatever the release (PoseTrack17
  ``annolist`` files are converted; PoseTrack21 keeps its ``person_id``). Image paths are rewritten relative to
  ``--out``, so the data configs use ``image_root: .`` and nothing is copied or linked.
* ``boxes/{split}_detections.json``: the release's person detections, where the release (or DCPose's support files
  placed inside it: ``posetrack1{7,8}_precomputed_boxes/val_boxes.json``) has them, in DCPose's format (joined to
  frames by image name) or COCO results (by image id). How many boxes matched a frame and how many did not goes to
  ``dataset.json`` and the console; a file whose boxes match no frame is an error.
* ``dataset.json``: what was found (sequences, labeled frames, persons, image root, box files).

Where the split layouts are searched: ``annotations/{train,val}`` (PoseTrack17/18), ``jsons/{train,val}``
(DCPose's renamed PoseTrack17) and ``posetrack_data/{train,val}`` (PoseTrack21), at any depth of the fetched tree.
A fetched ``NOT_CONFIGURED.json`` is passed on unchanged, and the stage succeeds.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from dsta.core.errors import DataError, doc_summary, main_guard
from dsta.core.io import atomic_dir, check_out_dir, load_json, write_json
from dsta.data.marker import NOT_CONFIGURED
from dsta.data.posetrack import (
    Sequence,
    annotation_files,
    join_detections,
    read_detections,
    read_sequence,
    to_posetrack18,
)

SPLITS = ("train", "val")
SPLIT_PARENTS = ("annotations", "jsons", "posetrack_data")


def scan(root: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """One walk of the fetched tree (image folders pruned): the annotation directory of each split and the
    COCO-results person-box file of each split (names containing ``boxes`` or ``detections`` and the split), the
    shallowest match of each."""
    split_dirs: list[Path] = []
    box_files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if d not in ("images", "videos")]  # image trees hold no annotations
        path = Path(dirpath)
        jsons = [f for f in filenames if f.endswith(".json")]
        if path.name in SPLITS and path.parent.name in SPLIT_PARENTS and jsons:
            split_dirs.append(path)
        box_files += [path / f for f in jsons if "boxes" in f.lower() or "detections" in f.lower()]
    by_depth = lambda p: (len(p.parts), str(p))  # noqa: E731
    splits: dict[str, Path] = {}
    for path in sorted(split_dirs, key=by_depth):
        splits.setdefault(path.name, path)
    boxes: dict[str, Path] = {}
    for path in sorted(box_files, key=by_depth):
        for split in SPLITS:
            if split in path.name.lower():
                boxes.setdefault(split, path)
    return splits, boxes


def find_image_root(seq: Sequence, candidates: list[Path]) -> Path:
    """The directory the sequence's ``file_name`` entries are relative to (one of ``candidates``)."""
    frame = seq.frames[0]
    for root in candidates:
        if (root / frame.file_name).is_file():
            return root
    raise DataError(
        seq.source, "images[0].file_name", f"{frame.file_name!r} found under none of {[str(c) for c in candidates]}"
    )


def check_release(dataset: str, fmt: str | None, ann_dir: Path) -> None:
    """The annotation format must be the release ``--dataset`` names: PoseTrack21 files (``person_id``) for
    posetrack21, PoseTrack17/18 files for the others (PoseTrack17 may come converted to the PoseTrack18 layout), so
    a PoseTrack18 tree prepared as posetrack21 is refused instead of being scored under the wrong name."""
    if fmt is None:
        return
    if (dataset == "posetrack21") != (fmt == "posetrack21"):
        raise DataError(
            ann_dir,
            "--dataset",
            f"these are {fmt} annotations, not {dataset}: check --dataset and datasets.{dataset}.source",
        )


def prepare(raw: Path, dataset: str, out: Path) -> dict:
    raw, out = Path(raw), Path(out)
    with atomic_dir(out) as tmp:
        if (raw / NOT_CONFIGURED).is_file():
            summary = load_json(raw / NOT_CONFIGURED)
            write_json(tmp / NOT_CONFIGURED, summary, indent=2)
        else:
            summary = _prepare(raw, dataset, out, tmp)
    return summary


def _prepare(raw: Path, dataset: str, out: Path, tmp: Path) -> dict:
    data = raw / "data"
    if not data.exists():
        raise DataError(raw, "data", "no fetched data (run the fetch stage first)")
    splits, box_files = scan(data)
    if "val" not in splits:
        raise DataError(data, None, f"no val annotations found (looked for {'/'.join(SPLIT_PARENTS)}/val/*.json)")
    summary: dict = {"dataset": dataset, "configured": True, "splits": {}, "boxes": {}}
    split_sequences: dict[str, list[Sequence]] = {}
    for split, ann_dir in sorted(splits.items()):
        candidates = [ann_dir.parents[i] for i in range(len(ann_dir.relative_to(data).parts) + 1)]
        root = None
        stats = {"annotations": str(ann_dir.relative_to(raw)), "sequences": 0, "labeled_frames": 0, "persons": 0}
        sequences: list[Sequence] = []
        for path in annotation_files(ann_dir):
            seq = read_sequence(path)
            root = root or find_image_root(seq, candidates)
            doc = to_posetrack18(seq, lambda f, root=root: os.path.relpath(root / f.file_name, out))
            write_json(tmp / "annotations" / split / f"{path.stem}.json", doc)
            stats["sequences"] += 1
            stats["labeled_frames"] += len(seq.labeled_frames)
            stats["persons"] += sum(len(f.persons) for f in seq.frames)
            stats["format"] = seq.format
            sequences.append(seq)
        check_release(dataset, stats.get("format"), ann_dir)
        stats["image_root"] = str(root.relative_to(raw)) if root else None
        summary["splits"][split] = stats
        split_sequences[split] = sequences
    for split, path in box_files.items():
        if split not in split_sequences:
            continue
        joined = join_detections(read_detections(path), split_sequences[split], path)
        (tmp / "boxes").mkdir(exist_ok=True)
        shutil.copyfile(path, tmp / "boxes" / f"{split}_detections.json")
        summary["boxes"][split] = {
            "source": str(path.relative_to(raw)),
            "images": len(joined.by_image),
            "boxes": joined.matched_boxes,
            "unmatched_boxes": joined.unmatched_boxes,
            "unmatched_examples": [str(k) for k in joined.unmatched_keys],
        }
    write_json(tmp / "dataset.json", summary, indent=2)
    return summary


@main_guard
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--raw", required=True, help="the fetch stage's output")
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    check_out_dir(Path(a.out).parent)  # --out itself is replaced whole (dsta.core.io.atomic_dir)
    summary = prepare(Path(a.raw), a.dataset, Path(a.out))
    if summary.get("configured"):
        val = summary["splits"]["val"]
        print(f"{a.dataset}: {val['sequences']} val sequences, {val['labeled_frames']} labeled frames -> {a.out}")
        for split, b in summary["boxes"].items():
            print(
                f"{a.dataset} {split} boxes ({b['source']}): {b['boxes']} matched {b['images']} images, "
                f"{b['unmatched_boxes']} matched no image"
                + (f" (e.g. {b['unmatched_examples']})" if b["unmatched_boxes"] else "")
            )
    else:
        print(f"{a.dataset}: not configured -> {a.out}")
    return summary


if __name__ == "__main__":
    main()
