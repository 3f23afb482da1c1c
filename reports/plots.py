"""The report's figures (matplotlib, PNG): mAP vs GFLOPs, per-joint AP, FPS and memory, training curves, and a
qualitative strip of val frames with GT and every model's skeletons. Paths returned are relative to the report
folder, as the Markdown pages link them."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dsta import keypoints as kp  # noqa: E402
from dsta.data.posetrack import read_split  # noqa: E402
from dsta.draw import draw_pose  # noqa: E402
from dsta.io import atomic_path, load_json  # noqa: E402

COLORS = plt.get_cmap("tab10").colors
GT_COLOR = (255, 255, 255)


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def _legend(ax, **kwargs) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


def _label(e) -> str:
    return f"{e.key} ({e.method()} T={e.num_frames})"


def map_vs_gflops(experiments, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, e in enumerate(experiments):
        if not e.profile or not e.evaluation:
            continue
        modes = e.profile["modes"]
        params = e.profile["params"]["total"] / 1e6
        x = modes["clip"]["gflops"]["total"]
        ax.scatter([x], [e.evaluation["Total"]], s=40 + 25 * params, color=COLORS[i % 10], alpha=0.6,
                   edgecolor="k", label=f"{_label(e)}, {params:.1f} M")
        if "streaming" in modes:
            xs = modes["streaming"]["gflops"]["total"]
            ax.scatter([xs], [e.evaluation["Total"]], s=40 + 25 * params, facecolor="none",
                       edgecolor=COLORS[i % 10], linestyle="--")
            ax.annotate("", xy=(xs, e.evaluation["Total"]), xytext=(x, e.evaluation["Total"]),
                        arrowprops={"arrowstyle": "->", "color": COLORS[i % 10], "alpha": 0.6})
    ax.set_xscale("log")
    ax.set_xlabel("GFLOPs per prediction (filled: clip, hollow: streaming)")
    ax.set_ylabel("val mAP")
    ax.set_title(title + "\nbubble area ~ parameters")
    ax.grid(alpha=0.3)
    _legend(ax, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)


def per_joint_bars(experiments, path: Path, title: str) -> None:
    names = list(kp.POSEVAL_JOINT_NAMES)
    fig, ax = plt.subplots(figsize=(11, 4.2))
    width = 0.8 / max(1, len(experiments))
    for i, e in enumerate(experiments):
        ap = (e.evaluation or {}).get("per_joint") or [np.nan] * len(names)
        ax.bar(np.arange(len(names)) + (i - (len(experiments) - 1) / 2) * width, ap, width, label=_label(e),
               color=COLORS[i % 10])
    ax.set_xticks(np.arange(len(names)), [n.replace("_", " ") for n in names], rotation=45, ha="right")
    ax.set_ylabel("AP (PCKh@0.5)")
    ax.set_title(title)
    _legend(ax, fontsize=7, ncol=3)
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def fps_memory_bars(experiments, path: Path, title: str) -> None:
    done = [e for e in experiments if e.profile]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(done))
    for k, mode in enumerate(("clip", "streaming")):
        fps = [e.profile["modes"].get(mode, {}).get("throughput", {}).get("fps", np.nan) for e in done]
        a1.bar(x + (k - 0.5) * 0.4, fps, 0.4, label=mode)
    a1.set_ylabel("predictions / s")
    batch = done[0].profile["modes"]["clip"]["throughput"]["batch"] if done else "?"
    a1.set_title(f"throughput at batch {batch}")
    for k, (label, get) in enumerate((("forward, bs 1", lambda p: p["modes"]["clip"].get("memory_forward", {})),
                                      ("training step", lambda p: p.get("memory_train_step") or {}))):
        mem = [get(e.profile).get("peak_mib") or np.nan for e in done]
        a2.bar(x + (k - 0.5) * 0.4, mem, 0.4, label=label)
    a2.set_ylabel("peak memory (MiB)")
    tb = (done[0].profile.get("memory_train_step") or {}).get("batch", "?") if done else "?"
    a2.set_title(f"peak memory (training step at batch {tb})")
    for ax in (a1, a2):
        ax.set_xticks(x, [e.key for e in done], rotation=30, ha="right")
        _legend(ax, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    device = done[0].profile["env"]["device"] if done else ""
    fig.suptitle(f"{title} - {device}", fontsize=9)
    _save(fig, path)


def training_curves(experiments, path: Path, title: str) -> None:
    """Val mAP per epoch, and the training loss per epoch for each kind of model (the RLE negative log-likelihood
    and the heatmap MSE are different quantities, so they get their own axes)."""
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(14, 4))
    for i, e in enumerate(experiments):
        hist = (e.training or {}).get("history") or []
        val = [(h["epoch"] + 1, h["val_mAP"]) for h in hist if "val_mAP" in h]
        loss = [(h["epoch"] + 1, h["loss"]) for h in hist if "loss" in h]
        if val:
            a1.plot(*zip(*val), marker="o", color=COLORS[i % 10], label=_label(e))
        if loss:
            ax = a3 if e.kind == "heatmap" else a2
            ax.plot(*zip(*loss), marker=".", color=COLORS[i % 10], label=e.key)
    a1.set_xlabel("epochs trained (0 = untrained)")
    a1.set_ylabel("val mAP")
    a2.set_title("regression models: RLE loss (NLL)", fontsize=9)
    a3.set_title("heatmap models: joint-weighted MSE", fontsize=9)
    a3.set_yscale("log")
    for ax in (a2, a3):
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss (epoch mean)")
    for ax in (a1, a2, a3):
        ax.grid(alpha=0.3)
        _legend(ax, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def _predictions_by_image(pred_dir: Path) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for f in sorted(pred_dir.glob("*.json")):
        for ann in load_json(f).get("annotations", []):
            out.setdefault(int(ann["image_id"]), []).append(ann)
    return out


def qualitative_strip(experiments, data_dir: Path, evals: Path, path: Path, title: str, frames: int = 4,
                      scale: int = 3) -> bool:
    """GT (white) and each model's predictions on a few val frames, half of them corrupted where flagged."""
    import cv2

    ann_dir = data_dir / experiments[0].config["data"]["val_ann"]
    if not ann_dir.is_dir():
        return False
    labeled = [(s, f) for s in read_split(ann_dir) for f in s.frames if f.is_labeled and f.persons]
    if not labeled:
        return False
    corrupted = [x for x in labeled if x[1].flags.get("corrupted")]
    clean = [x for x in labeled if not x[1].flags.get("corrupted")]
    step = lambda xs, n: xs[:: max(1, len(xs) // max(1, n))][:n]  # noqa: E731  spread over the videos
    chosen = step(clean, frames - min(len(corrupted), frames // 2)) + step(corrupted, frames // 2)
    image_root = data_dir / experiments[0].config["data"]["image_root"]
    preds = {e.key: _predictions_by_image(evals / e.key / "predictions") for e in experiments}
    rows = [("GT", None)] + [(e.key, e) for e in experiments]
    fig, axes = plt.subplots(len(rows), len(chosen), figsize=(2.6 * len(chosen), 2.1 * len(rows)), squeeze=False)
    for c, (seq, frame) in enumerate(chosen):
        img = cv2.imread(str(image_root / frame.file_name))
        if img is None:
            return False
        img = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), None, fx=scale, fy=scale,
                         interpolation=cv2.INTER_NEAREST)
        for r, (name, e) in enumerate(rows):
            canvas = img.copy()
            for person in frame.persons:
                vis = person.visible > 0
                draw_pose(canvas, person.keypoints * scale, vis.astype(float), GT_COLOR, threshold=0.5,
                          thickness=1)
            if e is not None:
                color = tuple(int(255 * v) for v in COLORS[(r - 1) % 10])
                for ann in preds[name].get(frame.image_id, []):
                    xy = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)[:, :2]
                    draw_pose(canvas, xy * scale, None, color, thickness=1)
            ax = axes[r, c]
            ax.imshow(canvas)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{seq.name[:6]} f{frame.index}" + (" (corrupted)" if frame.flags.get("corrupted")
                                                                  else ""), fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.suptitle(title + " - white: GT (labeled joints); colour: every predicted joint", fontsize=9)
    _save(fig, path)
    return True


def experiment_figures(dataset: str, experiments, fig_dir: Path, data_dir: Path, evals: Path) -> dict[str, str]:
    """Every figure of one dataset page; returns {caption: path relative to the report folder}."""
    out = {}
    title = f"{dataset}, val"
    specs = [("mAP vs GFLOPs", f"{dataset}_map_vs_gflops.png", lambda p: map_vs_gflops(experiments, p, title)),
             ("Per-joint AP", f"{dataset}_per_joint.png", lambda p: per_joint_bars(experiments, p, title)),
             ("FPS and memory", f"{dataset}_fps_memory.png", lambda p: fps_memory_bars(experiments, p, title)),
             ("Training curves", f"{dataset}_training.png", lambda p: training_curves(experiments, p, title))]
    for caption, name, draw in specs:
        draw(fig_dir / name)
        out[caption] = f"{fig_dir.name}/{name}"
    name = f"{dataset}_qualitative.png"
    if qualitative_strip(experiments, data_dir, evals, fig_dir / name, title):
        out["Qualitative"] = f"{fig_dir.name}/{name}"
    return out


def paper_figures(paper: dict[str, dict], reference: dict, fig_dir: Path) -> dict[str, str]:
    """GFLOPs of every paper-size model (backbone and head, clip and streaming), and reported PoseTrack17 mAP against
    the GFLOPs measured here."""
    keys = list(paper)
    fig, ax = plt.subplots(figsize=(9, 4))
    y = np.arange(len(keys))
    for k, mode in enumerate(("clip", "streaming")):
        back = [paper[m]["modes"].get(mode, {}).get("gflops", {}).get("backbone", np.nan) for m in keys]
        head = [paper[m]["modes"].get(mode, {}).get("gflops", {}).get("head", np.nan) for m in keys]
        pos = y + (k - 0.5) * 0.4
        ax.barh(pos, back, 0.4, color=COLORS[k], alpha=0.55, label=f"{mode}: backbone")
        ax.barh(pos, head, 0.4, left=back, color=COLORS[k + 2], label=f"{mode}: head")
    ax.set_yticks(y, keys)
    ax.set_xlabel("GFLOPs per prediction at 256x192 (one multiply-add = one FLOP)")
    _legend(ax, fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    env = next(iter(paper.values()))["env"]
    ax.set_title(f"paper-size models, measured with fvcore ({env['torch']})", fontsize=9)
    out = {"Paper-size GFLOPs": f"{fig_dir.name}/paper_gflops.png"}
    _save(fig, fig_dir / "paper_gflops.png")

    rows = {r["match"]: r for r in reference.get("posetrack17", []) if r.get("match") and r["ap"][-1] is not None}
    pts = [(m, p) for m, p in paper.items() if m in rows]
    if pts:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for i, (m, p) in enumerate(pts):
            mode = "streaming" if "streaming" in p["modes"] else "clip"
            g = p["modes"][mode]["gflops"]["total"]
            params = p["params"]["total"] / 1e6
            ax.scatter([g], [rows[m]["ap"][-1]], s=10 + 8 * params, color=COLORS[i % 10], alpha=0.6,
                       edgecolor="k", label=f"{m} ({mode}), {params:.1f} M")
        ax.set_xscale("log")
        ax.set_xlabel("GFLOPs per frame measured here (streaming where the model allows it)")
        ax.set_ylabel("PoseTrack17 val mAP, reported (cited in the index)")
        ax.set_title("reported accuracy vs measured cost; bubble area ~ parameters", fontsize=9)
        ax.grid(alpha=0.3)
        _legend(ax, fontsize=7)
        _save(fig, fig_dir / "paper_map_vs_gflops.png")
        out["Reported PoseTrack17 mAP vs measured GFLOPs"] = f"{fig_dir.name}/paper_map_vs_gflops.png"
    return out
