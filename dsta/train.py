"""Train any registered model: ``main`` -> ``train_one_epoch`` / ``evaluate``, nothing hidden.

``python -m dsta.train --params params.yaml --experiment NAME --data-root DIR --out DIR``

The experiment's section of params.yaml (``experiments.NAME``: ``data``, ``model``, ``train``) says everything else.
AdamW, the LR schedule (multi-step per epoch, or a per-step cosine with warm-up), gradient clipping, AMP on CUDA (fp32
on CPU), DDP when launched by ``torchrun`` (rank 0 logs and saves). Seeded: on CPU a run is bit-for-bit repeatable. A
checkpoint is written atomically after every epoch (``OUT/last.pt``); started again with the same command, an
interrupted run resumes from it and ends with the same weights and metrics as an uninterrupted one (a finished run, or
one with another config, starts over; a finished run's outputs wait in ``OUT/.previous-run`` until the new run
finishes, and come back if it fails).
Per-epoch metrics (loss, PCK@0.05, val mAP, lr) go to dvclive in ``OUT/live``; the final ones to ``OUT/metrics.json``.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm import tqdm

from dsta import distributed as dist
from dsta.config import check_experiment, load_experiment
from dsta.core.configs import TrainConfig, num_frames_of
from dsta.core.errors import DataError, doc_summary, main_guard
from dsta.core.io import atomic_path, check_out_dir, check_out_file, remove_stale_temps, write_bytes, write_json
from dsta.core.provenance import provenance
from dsta.data.dataset import make_dataset
from dsta.data.marker import not_configured
from dsta.evaluate import to_json
from dsta.fetch import require_weights
from dsta.models import backbone_path, create_model, model_target, read_checkpoint, save_checkpoint
from dsta.objectives import objective_for, pck
from dsta.predict import predict, score


def lr_scheduler(optimizer, train: TrainConfig, steps_per_epoch: int = 1) -> torch.optim.lr_scheduler.LRScheduler:
    """The LR schedule (``TrainConfig``). ``multistep`` is stepped once after each epoch; ``after_milestone`` is the
    same schedule with every milestone one epoch later. ``cosine`` is stepped after every optimizer step
    (``TrainConfig.per_step``), over ``epochs * steps_per_epoch`` steps."""
    if train.schedule == "cosine":
        total, warmup = train.epochs * steps_per_epoch, train.warmup_steps

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return 0.5 * (1 + math.cos(math.pi * min(step - warmup, total - warmup) / max(1, total - warmup)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    shift = 1 if train.lr_drop == "after_milestone" else 0
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, [m + shift for m in train.milestones], train.gamma)


def steps_per_epoch(num_samples: int, batch_size: int, world: int) -> int:
    """Optimizer steps in one epoch: the loader's length (``drop_last`` when there is a full batch; DDP splits the
    samples evenly over the ``world`` ranks, padding the last)."""
    per_rank = math.ceil(num_samples / world)
    return max(1, per_rank // batch_size if num_samples >= batch_size else math.ceil(per_rank / batch_size))


def backbone_of(model) -> torch.nn.Module | None:
    """The per-frame backbone, at the model's ``backbone_path`` (``"backbone"`` unless its class says otherwise, as
    DCPose's ``rough.backbone``; see ``dsta.models``), or None."""
    model = getattr(model, "module", model)
    try:
        return model.get_submodule(backbone_path(model))
    except AttributeError:
        return None


def param_groups(model, train: TrainConfig) -> list[dict]:
    """AdamW's parameter groups: the backbone at ``lr * backbone_lr_mult``, everything else at ``lr``."""
    backbone = backbone_of(model)
    if backbone is None:
        if train.backbone_lr_mult != 1 or train.freeze_backbone_epochs:
            raise DataError(None, "train.backbone_lr_mult", f"{type(model).__name__} has no `backbone` to treat apart")
        return [{"params": list(model.parameters())}]
    ids = {id(p) for p in backbone.parameters()}
    return [
        {"params": list(backbone.parameters()), "lr": train.lr * train.backbone_lr_mult},
        {"params": [p for p in model.parameters() if id(p) not in ids]},
    ]


def set_backbone_frozen(model, frozen: bool) -> None:
    """Freeze (no gradient; BatchNorm in eval mode, so its statistics stay the pretrained ones) or unfreeze. Unfreezing
    gives the gradient back only to the parameters that freezing took it from: what the model froze itself stays
    frozen (DCPose's ``freeze_rough``, the official recipe's frozen HRNet)."""
    backbone = backbone_of(model)
    if backbone is None:
        return
    if frozen:
        held = getattr(backbone, "frozen_by_training", None) or [p for p in backbone.parameters() if p.requires_grad]
        for p in held:
            p.requires_grad_(False)
    else:
        for p in getattr(backbone, "frozen_by_training", None) or []:
            p.requires_grad_(True)
        held = []
    backbone.frozen_by_training = held
    backbone.train(not frozen and model.training)


def wrap_ddp(model, device, frozen: bool):
    """``model`` under DDP for epochs with the backbone ``frozen`` or not. DDP reduces the gradients of the parameters
    that require one when it is built, so it is built with the backbone already frozen (and again when it thaws)
    rather than told to look for unused parameters: that search marks a parameter used only by the loss (the RLE flow
    of DSTA and RLE) unused at the end of forward, and its gradient then arrives a second time (found by
    tests/test_distributed.py)."""
    set_backbone_frozen(model, frozen)
    devices = None if device.index is None else [device.index]
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=devices)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_one_epoch(
    model,
    objective,
    loader,
    optimizer,
    scaler,
    device,
    epoch: int,
    grad_clip: float,
    amp: bool,
    freeze_epochs: int = 0,
    step_scheduler=None,
) -> dict:
    """One pass over the training set (the backbone frozen while ``epoch < freeze_epochs``; ``step_scheduler``, if
    given, stepped after every optimizer step); returns the mean loss and PCK@0.05."""
    model.train()
    set_backbone_frozen(model, epoch < freeze_epochs)
    losses, pcks = [], []
    bar = tqdm(loader, desc=f"epoch {epoch}", disable=not dist.is_main(), mininterval=10, file=sys.stderr)
    for batch in bar:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            output = model(batch["image"])
        loss = objective.loss(model, output, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at epoch {epoch}")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        if step_scheduler is not None:
            step_scheduler.step()
        losses.append(loss.item())
        coords, _ = objective.decode(output)
        pcks.append(
            pck(coords, batch["coords"].cpu().numpy(), batch["coord_weight"].cpu().numpy(), objective.input_size)
        )
        bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
    return {
        "loss": dist.all_mean(float(np.mean(losses)), device),
        "pck": dist.all_mean(float(np.nanmean(pcks)), device),
    }


def evaluate(model, objective, dataset, device, out_dir: Path, batch_size: int) -> dict:
    """Val mAP with the poseval-identical evaluator (rank 0)."""
    model = getattr(model, "module", model)
    predictions = predict(model, objective, dataset, device, batch_size=batch_size)
    return score(predictions, dataset, out_dir)


def datasets(cfg: dict, data_root: Path, num_frames: int, target: str, seed: int):
    """The training set and the per-epoch validation set (the configured detection file when the release has one,
    else GT boxes, said so)."""
    heatmap = cfg["model"].get("heatmap")
    train_set = make_dataset(
        cfg["data"], num_frames, target, data_root, "train", train=True, seed=seed, heatmap=heatmap
    )
    val_set = make_dataset(
        cfg["data"], num_frames, target, data_root, "val", train=False, heatmap=heatmap, boxes="auto"
    )
    if val_set.detections is None and cfg["data"].get("boxes") not in (None, "gt") and dist.is_main():
        print(
            f"no detection file {cfg['data']['boxes']!r} under {data_root}: validating with GT boxes", file=sys.stderr
        )
    if train_set.unclipped_boxes and dist.is_main():
        print(
            f"{train_set.unclipped_boxes} training boxes not clipped (data.gt_boxes: clipped): their files give no "
            f"bbox or no image size, so they keep the given one (around the keypoints for PoseTrack17 annolist "
            f"files)",
            file=sys.stderr,
        )
    return train_set, val_set


def resume(
    out: Path, cfg: dict, steps: int, train: TrainConfig, model, optimizer, scheduler, scaler
) -> tuple[int, list]:
    """Where to start: epoch 0 with an empty history, or an interrupted run's next epoch with its history, model,
    optimizer, schedule, scaler and RNG states (from ``OUT/last.pt``). A finished run, or one of another config or data
    size (the per-step schedule's length depends on both), starts over; a finished run's outputs wait aside until the
    new run finishes."""
    last = out / "last.pt"
    ckpt = read_checkpoint(last) if last.is_file() else None
    if ckpt is None:
        return 0, []
    same = ckpt.get("config") == cfg and ckpt.get("steps_per_epoch", steps) == steps
    if not same or ckpt["epoch"] + 1 >= train.epochs:  # the code may have changed since a finished run: train again
        if dist.is_main():
            print(
                f"{last}: {'finished run' if same else 'another config or data size'}; starting over", file=sys.stderr
            )
            recorded = (ckpt.get("config") or {}).get("train") or {}
            stash_previous_run(out, finished=ckpt["epoch"] + 1 >= recorded.get("epochs", 0))
        return 0, []
    model.load_state_dict(ckpt["state_dict"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    scaler.load_state_dict(ckpt["scaler"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    np.random.set_state(ckpt["rng"]["numpy"])
    random.setstate(ckpt["rng"]["python"])
    if dist.is_main():
        (out / "metrics.json").unlink(missing_ok=True)  # not this unfinished run's: it would look current
        print(f"resuming from {last} at epoch {ckpt['epoch'] + 1}", file=sys.stderr)
    return ckpt["epoch"] + 1, ckpt["history"]


def live_logger(out: Path, resumed: bool):
    """dvclive's logger of the per-epoch curves (rank 0), or None where dvclive cannot be imported."""
    if not dist.is_main():
        return None
    try:
        from dvclive import Live
    except ImportError:  # an offline GPU machine without dvc's git stack (../shared/GPU-NOTES.md)
        print("dvclive not importable: the per-epoch curves are in metrics.json only", file=sys.stderr)
        return None
    return Live(dir=str(out / "live"), resume=resumed, save_dvc_exp=False, dvcyaml=None)


def epoch_loader(train_set, train: TrainConfig, epoch: int, world: int, device) -> DataLoader:
    """One epoch's loader: a seeded shuffle (per rank under DDP), the last partial batch dropped when there is a
    full one."""
    train_set.set_epoch(epoch)
    if world > 1:
        sampler = DistributedSampler(train_set, seed=train.seed)
        sampler.set_epoch(epoch)
    else:
        sampler = RandomSampler(train_set, generator=torch.Generator().manual_seed(train.seed + epoch))
    return DataLoader(
        train_set,
        batch_size=train.batch_size,
        sampler=sampler,
        num_workers=train.workers,
        drop_last=len(train_set) >= train.batch_size,
        persistent_workers=False,
        pin_memory=device.type == "cuda",
    )


def log_epoch(live, epoch: int, stats: dict) -> None:
    """An epoch's numbers to dvclive and one line on stderr."""
    if live is not None:
        live.step = epoch
        for key in ("loss", "pck", "lr", "val_mAP"):
            if key in stats:
                live.log_metric(f"{'val' if key == 'val_mAP' else 'train'}/{key}", stats[key], plot=True)
        live.next_step()
    msg = " ".join(f"{k} {v:.4g}" for k, v in stats.items())
    print(f"epoch {epoch}: {msg}", file=sys.stderr)


def main_worker(cfg: dict, data_root: Path, out: Path) -> dict:
    """One process of a run (rank 0 evaluates, logs and saves): data, model, optimizer and schedule, resume, the epoch
    loop, the final evaluation and ``OUT/metrics.json``."""
    rank, world, device = dist.init()
    train = TrainConfig.parse(cfg["train"])
    seed_everything(train.seed)
    name, kwargs = cfg["model"]["name"], dict(cfg["model"]["kwargs"])
    target = model_target(name)
    train_set, val_set = datasets(cfg, data_root, num_frames_of(name, kwargs), target, train.seed)
    objective = objective_for(target, train_set.input_size, cfg["model"])

    model = create_model(name, **kwargs).to(device)
    optimizer = torch.optim.AdamW(param_groups(model, train), lr=train.lr, weight_decay=train.weight_decay)
    steps = steps_per_epoch(len(train_set), train.batch_size, world)
    if train.per_step and train.warmup_steps >= train.epochs * steps:
        raise DataError(
            None,
            "train.warmup_steps",
            f"{train.warmup_steps} >= the schedule's {train.epochs * steps} steps ({steps} per epoch)",
        )
    scheduler = lr_scheduler(optimizer, train, steps)
    amp = train.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    start, history = resume(out, cfg, steps, train, model, optimizer, scheduler, scaler)

    live = live_logger(out, resumed=start > 0)
    last_metrics = None
    if start == 0 and dist.is_main():  # the untrained model's val mAP: the floor that training must clear
        untrained = evaluate(model, objective, val_set, device, out / "val", train.batch_size)
        history.append({"epoch": -1, "val_mAP": untrained["Total"]})
    ddp_frozen = None
    for epoch in range(start, train.epochs):
        frozen = epoch < train.freeze_backbone_epochs
        if world > 1 and frozen != ddp_frozen:
            model = wrap_ddp(getattr(model, "module", model), device, frozen)
            ddp_frozen = frozen
        loader = epoch_loader(train_set, train, epoch, world, device)
        t0 = time.time()
        stats = train_one_epoch(
            model,
            objective,
            loader,
            optimizer,
            scaler,
            device,
            epoch,
            train.grad_clip,
            amp,
            train.freeze_backbone_epochs,
            step_scheduler=scheduler if train.per_step else None,
        )
        # the head's LR (the only group of a model without a backbone) after the epoch: the next epoch's under the
        # multi-step schedule, the last step's under cosine
        stats["lr"] = optimizer.param_groups[-1]["lr"]
        stats["seconds"] = time.time() - t0
        if not train.per_step:
            scheduler.step()
        if dist.is_main() and (epoch == train.epochs - 1 or (epoch + 1) % train.eval_every == 0):
            last_metrics = evaluate(model, objective, val_set, device, out / "val", train.batch_size)
            stats["val_mAP"] = last_metrics["Total"]
        history.append({"epoch": epoch, **stats})
        if dist.is_main():
            save_checkpoint(
                out / "last.pt",
                name,
                kwargs,
                model,
                config=cfg,
                epoch=epoch,
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict(),
                scaler=scaler.state_dict(),
                history=history,
                steps_per_epoch=steps,
                rng={"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
            )
            log_epoch(live, epoch, stats)
        dist.barrier()
    result = {}
    if dist.is_main():
        if live is not None:
            live.end()
        if last_metrics is None:  # resumed after the last epoch had finished
            last_metrics = evaluate(model, objective, val_set, device, out / "val", train.batch_size)
        result = {
            "model": name,
            "dataset": cfg["data"]["name"],
            "epochs": train.epochs,
            "train_seconds": float(sum(h.get("seconds", 0.0) for h in history)),
            "untrained_val_mAP": history[0]["val_mAP"] if history and history[0]["epoch"] == -1 else None,
            "val": last_metrics,
            "history": history,
            "provenance": provenance(train.seed, cfg),
        }
        write_json(out / "metrics.json", to_json(result), indent=2)
    dist.cleanup()
    return result


@main_guard
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--experiment", required=True, help="a key of `experiments` (or of --section) in params")
    p.add_argument("--section", default="experiments", help="the params mapping that holds it (`pretrain`)")
    p.add_argument("--data-root", required=True)
    p.add_argument("--out", required=True, help="run directory: last.pt, live/, val/, metrics.json")
    p.add_argument(
        "--export-backbone",
        help="also write the trained backbone's weights here (timm key layout), for another model's `pretrained`",
    )
    a = p.parse_args(argv)
    cfg = load_experiment(a.params, a.experiment, section=a.section)
    check_experiment(cfg, f"{a.section}.{a.experiment}")  # as `python -m dsta.config` does, for a hand-edited file
    out = Path(a.out)
    if dist.is_main():  # the writability probes write a file: under torchrun only rank 0 writes
        check_out_dir(out)
        if a.export_backbone:
            check_out_file(a.export_backbone, "--export-backbone")
    created = not out.exists()
    if dist.is_main():  # under torchrun only rank 0 writes
        out.mkdir(parents=True, exist_ok=True)
        for folder in (out, out / "val", out / "val" / "predictions"):
            remove_stale_temps(folder)  # what killed atomic writes of an earlier run left
    marker = not_configured(a.data_root)
    if marker is not None:
        return skip_run(out, cfg, marker) if dist.is_main() else {}
    try:
        require_weights(a.params, a.experiment, cfg)  # a missing weights file stops here, naming where to get it
        result = main_worker(cfg, Path(a.data_root), out)
        if a.export_backbone and dist.is_main():
            export_backbone(out / "last.pt", Path(a.export_backbone))
    except Exception as err:  # not a KeyboardInterrupt: that is a kill, and the new run resumes next time
        if dist.is_main():
            restore_previous_run(out)  # a failed rerun never costs the finished run it replaced
        # bad input (data, config): leave nothing behind, so no half-made run looks like a result
        if isinstance(err, DataError) and created and dist.is_main():
            shutil.rmtree(out, ignore_errors=True)
        raise
    if dist.is_main():
        shutil.rmtree(out / PREVIOUS_RUN, ignore_errors=True)
        print(
            f"wrote {out / 'metrics.json'} and {out / 'last.pt'}: val mAP {result['val']['Total']:.2f} after "
            f"{result['epochs']} epochs ({result['train_seconds']:.0f} s)"
            + (f"; backbone -> {a.export_backbone}" if a.export_backbone else "")
        )
    return result


# -- a rerun keeps the finished run it replaces until it has finished itself ------------------------------------------
PREVIOUS_RUN = ".previous-run"  # OUT/.previous-run: the finished run's outputs while a new run of OUT is under way
RUN_OUTPUTS = ("last.pt", "metrics.json", "live", "val")


def stash_previous_run(out: Path, finished: bool) -> None:
    """Starting over on a finished run (its checkpoint at its last epoch, or its ``metrics.json`` there): move its
    outputs into ``OUT/.previous-run`` instead of deleting them, so a rerun that fails (bad data found at epoch 0, a
    crash) can put them back, and no ``metrics.json`` of the old run sits beside the new run's checkpoints looking
    current. A stash already there is the last finished run and stays; the outputs of an unfinished run are then
    replaced as they always were (its curves removed now, its checkpoint overwritten by the first new one)."""
    stash = out / PREVIOUS_RUN
    if (finished or (out / "metrics.json").is_file()) and not stash.exists():
        stash.mkdir()
        for name in RUN_OUTPUTS:
            if (out / name).exists():
                os.replace(out / name, stash / name)
        print(f"{out}: the finished run is kept in {stash} until this run finishes", file=sys.stderr)
        return
    shutil.rmtree(out / "live", ignore_errors=True)
    (out / "metrics.json").unlink(missing_ok=True)  # not the new run's


def restore_previous_run(out: Path) -> None:
    """Put a stashed finished run back (see ``stash_previous_run``), replacing what the failed rerun wrote."""
    stash = out / PREVIOUS_RUN
    if not stash.is_dir():
        return
    for name in RUN_OUTPUTS:
        dst = out / name
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        elif dst.exists() or dst.is_symlink():
            dst.unlink()
        if (stash / name).exists():
            os.replace(stash / name, dst)
    shutil.rmtree(stash, ignore_errors=True)
    print(f"{out}: restored the previous finished run", file=sys.stderr)


def export_backbone(checkpoint: Path, dst: Path) -> None:
    """The backbone of a trained checkpoint as a plain state dict (``dsta.nn.backbones.load_backbone_weights`` reads
    it): the synthetic pipeline's stand-in for RLE's COCO checkpoint, from which the paper initialises DSTA."""
    state = read_checkpoint(checkpoint)["state_dict"]
    backbone = {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}
    if not backbone:
        raise DataError(checkpoint, "state_dict", "no backbone.* weights to export")
    # saved through a buffer: torch.save names the archive's folder after a file's name, and the atomic write's
    # temporary name is random, so the same weights would give other bytes (and another hash in dvc.lock) every run
    buffer = io.BytesIO()
    torch.save(backbone, buffer)
    write_bytes(dst, buffer.getvalue())


def skip_run(out: Path, cfg: dict, marker: dict) -> dict:
    """A dataset that was not fetched: leave a marker checkpoint and metrics saying so, so the pipeline goes on and
    the report lists the experiment as skipped (nothing is trained or scored)."""
    reason = f"skipped: dataset {cfg['data']['name']} not configured ({marker.get('reason', 'no source')})"
    (out / "val").mkdir(exist_ok=True)
    with atomic_path(out / "last.pt") as tmp:
        torch.save({"skipped": reason, "config": cfg}, tmp)
    result = {"model": cfg["model"]["name"], "dataset": cfg["data"]["name"], "skipped": reason}
    write_json(out / "metrics.json", result, indent=2)
    print(reason)
    return result


if __name__ == "__main__":
    main()
