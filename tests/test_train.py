import json

import pytest
import torch
import yaml

from dsta import train as train_mod
from dsta.core.configs import TRAIN_REQUIRED, TrainConfig
from dsta.core.errors import DataError
from dsta.models import read_checkpoint
from dsta.predict import main as predict_main

pytestmark = pytest.mark.slow


def _params(tmp_path, epochs=2, num_frames=3):
    cfg = {
        "data": {
            "name": "synthetic",
            "train_ann": "annotations/train",
            "val_ann": "annotations/val",
            "image_root": ".",
            "boxes": "gt",
            "box_score_threshold": 0.0,
            "box_enlarge": 1.25,
            "input_size": [32, 48],
            "frame_distance": 1,
            "max_frame_distance": 2,
            "augment": {
                "flip_prob": 0.5,
                "scale_factor": 0.25,
                "rotate_factor": 30.0,
                "rotate_prob": 0.5,
                "half_body_prob": 0.2,
                "half_body_min_keypoints": 8,
            },
        },
        "model": {
            "name": "dsta",
            "kwargs": {"backbone": "resnet18", "num_frames": num_frames, "embed_dim": 16, "depth": 1, "num_heads": 4},
            "loss": {"prior": "laplace", "residual": True},
        },
        "train": {
            "epochs": epochs,
            "batch_size": 16,
            "lr": 1e-3,
            "weight_decay": 1e-4,
            "milestones": [1],
            "gamma": 0.1,
            "grad_clip": 5.0,
            "workers": 0,
            "seed": 0,
            "amp": True,
            "eval_every": 1,
        },
    }
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"experiments": {"tiny": cfg}}))
    return path


def _run(params, data, out, *extra):
    return train_mod.main(
        ["--params", str(params), "--experiment", "tiny", "--data-root", str(data), "--out", str(out), *extra]
    )


def test_killed_run_resumes_to_the_same_result(tmp_path, synthetic_tiny, monkeypatch):
    """A killed run resumes to the same weights, metrics and (byte for byte) exported backbone as an uninterrupted one:
    with the per-step cosine schedule of the synthetic recipes, this is also the pretrain stage's regeneration."""
    import hashlib

    params = _params(tmp_path)
    doc = yaml.safe_load(params.read_text())
    train = doc["experiments"]["tiny"]["train"]
    del train["milestones"], train["gamma"]
    train.update(schedule="cosine", warmup_steps=1)
    params.write_text(yaml.safe_dump(doc))
    full = _run(params, synthetic_tiny, tmp_path / "full", "--export-backbone", str(tmp_path / "full.pt"))

    real = train_mod.train_one_epoch

    def killed_at_epoch_1(*args, **kwargs):
        if args[6] == 1:  # epoch
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "train_one_epoch", killed_at_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        _run(params, synthetic_tiny, tmp_path / "resumed")
    assert read_checkpoint(tmp_path / "resumed" / "last.pt")["epoch"] == 0
    monkeypatch.setattr(train_mod, "train_one_epoch", real)
    resumed = _run(params, synthetic_tiny, tmp_path / "resumed", "--export-backbone", str(tmp_path / "resumed.pt"))
    digest = [hashlib.sha256((tmp_path / f"{n}.pt").read_bytes()).hexdigest() for n in ("full", "resumed")]
    assert digest[0] == digest[1]

    a = read_checkpoint(tmp_path / "full" / "last.pt")["state_dict"]
    b = read_checkpoint(tmp_path / "resumed" / "last.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["val"]["Total"] == full["val"]["Total"]
    assert [h.get("loss") for h in resumed["history"]] == [h.get("loss") for h in full["history"]]
    assert full["untrained_val_mAP"] is not None
    # dvclive logged every epoch once
    live = tmp_path / "resumed" / "live" / "metrics.json"
    assert json.loads(live.read_text())["step"] == 1


def test_checkpoint_describes_itself_and_predict_uses_it(tmp_path, synthetic_tiny):
    params = _params(tmp_path, epochs=1, num_frames=1)
    _run(params, synthetic_tiny, tmp_path / "run")
    ckpt = read_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["model"] == "dsta" and ckpt["kwargs"]["num_frames"] == 1
    assert {"config", "epoch", "optimizer", "scheduler"} <= set(ckpt)
    metrics = predict_main(
        [
            "--checkpoint",
            str(tmp_path / "run" / "last.pt"),
            "--data-root",
            str(synthetic_tiny),
            "--out",
            str(tmp_path / "eval"),
            "--flip",
        ]
    )
    assert 0 <= metrics["Total"] <= 100
    written = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert written["split"]["field"] == "corrupted" and written["flip"] is True
    assert len(list((tmp_path / "eval" / "predictions").glob("*.json"))) == 2


def test_changed_config_starts_over(tmp_path, synthetic_tiny):
    params = _params(tmp_path, epochs=1, num_frames=1)
    _run(params, synthetic_tiny, tmp_path / "run")
    doc = yaml.safe_load(params.read_text())
    doc["experiments"]["tiny"]["train"]["lr"] = 0.5
    params.write_text(yaml.safe_dump(doc))
    result = _run(params, synthetic_tiny, tmp_path / "run")
    assert [h["epoch"] for h in result["history"]] == [-1, 0]
    assert read_checkpoint(tmp_path / "run" / "last.pt")["config"]["train"]["lr"] == 0.5


BASE = {k: 1 for k in TRAIN_REQUIRED} | {"amp": False}  # every required train key


def test_bad_train_config():
    with pytest.raises(DataError, match="train.batch_size"):
        TrainConfig.parse(BASE | {"batch_size": 0, "milestones": []})
    with pytest.raises(DataError, match="train.extra: unknown key"):
        TrainConfig.parse(BASE | {"milestones": [], "extra": 1})
    with pytest.raises(DataError, match="train.seed: missing"):
        TrainConfig.parse({k: v for k, v in BASE.items() if k != "seed"})
    train = TrainConfig.parse(BASE | {"milestones": [2, 4]})
    assert train.milestones == (2, 4) and train.schedule == "multistep" and not train.per_step  # typed, defaults


def _lrs_per_epoch(step, milestones=(10, 15), epochs=20, **train):
    """The LR each epoch trains at, with ``step(scheduler, epoch)`` called after each epoch."""
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=5e-5)
    base = BASE | {"milestones": list(milestones), "gamma": 0.1, "lr": 5e-5}
    scheduler = train_mod.lr_scheduler(optimizer, TrainConfig.parse(base | train))
    lrs = []
    for epoch in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradient: nothing moves, but the order is the training loop's
        step(scheduler, epoch)
    return lrs


def test_lr_drops_after_the_milestone_as_the_release_steps():
    import warnings

    def release_step(scheduler, epoch):  # zgspose/DSTA engine/defaults/trainer.py, after each epoch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch deprecates step(epoch); it still sets the closed-form LR
            scheduler.step(epoch)

    release = _lrs_per_epoch(release_step)  # the release's scheduler: plain milestones, stepped with the epoch
    ours = _lrs_per_epoch(lambda s, e: s.step(), lr_drop="after_milestone")
    assert ours == pytest.approx(release)
    counts = [sum(lr == pytest.approx(v) for lr in ours) for v in (5e-5, 5e-6, 5e-7)]
    assert counts == [11, 5, 4] and ours[10] == pytest.approx(5e-5) and ours[11] == pytest.approx(5e-6)
    default = _lrs_per_epoch(lambda s, e: s.step())  # at_milestone: torch's own stepping, the synthetic recipes'
    assert [sum(lr == pytest.approx(v) for lr in default) for v in (5e-5, 5e-6, 5e-7)] == [10, 5, 5]
    with pytest.raises(DataError, match="train.lr_drop"):
        TrainConfig.parse(BASE | {"milestones": [], "lr_drop": "late"})


def test_fine_tune_keys_param_groups_and_freezing():
    from dsta.models import create_model

    base = BASE | {"milestones": [], "lr": 1e-3}
    assert TrainConfig.parse(dict(base)).backbone_lr_mult == 1.0  # optional, with defaults
    with pytest.raises(DataError, match="freeze_backbone_epochs"):
        TrainConfig.parse(base | {"freeze_backbone_epochs": -1})
    train = TrainConfig.parse(base | {"backbone_lr_mult": 0.1})
    model = create_model("rle", backbone="resnet18")
    groups = train_mod.param_groups(model, train)
    assert groups[0]["lr"] == pytest.approx(1e-4) and "lr" not in groups[1]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    model.train()
    train_mod.set_backbone_frozen(model, True)
    assert not any(p.requires_grad for p in model.backbone.parameters()) and not model.backbone.training
    assert all(p.requires_grad for p in model.fc_coord.parameters())
    train_mod.set_backbone_frozen(model, False)
    assert all(p.requires_grad for p in model.backbone.parameters()) and model.backbone.training


def test_exported_backbone_loads_as_pretrained(tmp_path):
    from dsta.models import create_model
    from dsta.nn.checkpoint import save_checkpoint

    rle = create_model("rle", backbone="resnet18")
    save_checkpoint(tmp_path / "last.pt", "rle", {"backbone": "resnet18"}, rle)
    train_mod.export_backbone(tmp_path / "last.pt", tmp_path / "pretrain" / "rle" / "backbone.pt")
    dsta = create_model(
        "dsta",
        backbone="resnet18",
        num_frames=3,
        embed_dim=16,
        depth=1,
        num_heads=4,
        pretrained=str(tmp_path / "pretrain" / "rle" / "backbone.pt"),
    )
    for (name, a), b in zip(rle.backbone.state_dict().items(), dsta.backbone.state_dict().values()):
        assert torch.equal(a, b), name
    # DSTA's coordinates start at the crop centre, as RLE's
    assert torch.allclose(dsta.head_coord[1].bias, torch.full((2,), 0.5), atol=1 / 16**0.5)  # Linear(16, 2) init


# -- issue 22: a failed or killed rerun never costs the finished run ------------------------------------------------
def _snapshot(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_failed_rerun_keeps_the_finished_run(tmp_path, synthetic_tiny, capsys):
    import shutil

    params = _params(tmp_path, epochs=1, num_frames=1)
    out = tmp_path / "run"
    _run(params, synthetic_tiny, out)
    said = capsys.readouterr().out.strip().splitlines()[-1]  # the run ends saying what it wrote and its number
    assert said.startswith(f"wrote {out / 'metrics.json'} and {out / 'last.pt'}: val mAP ") and "after 1 epochs" in said
    before = _snapshot(out)
    assert "metrics.json" in before and any(k.startswith("live/") for k in before)
    no_images = tmp_path / "no_images"
    shutil.copytree(synthetic_tiny / "annotations", no_images / "annotations")
    doc = yaml.safe_load(params.read_text())
    doc["experiments"]["tiny"]["train"]["lr"] = 2e-3  # another config: the run starts over
    params.write_text(yaml.safe_dump(doc))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        _run(params, no_images, out)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {no_images}/") and "file_name: image not found" in err[-1]
    assert _snapshot(out) == before and not (out / train_mod.PREVIOUS_RUN).exists()


def test_killed_rerun_hides_the_old_metrics_and_resumes(tmp_path, synthetic_tiny, monkeypatch):
    params = _params(tmp_path, epochs=2, num_frames=1)
    out = tmp_path / "run"
    first = _run(params, synthetic_tiny, out)
    doc = yaml.safe_load(params.read_text())
    doc["experiments"]["tiny"]["train"]["lr"] = 2e-3
    params.write_text(yaml.safe_dump(doc))
    real = train_mod.train_one_epoch

    def killed_at_epoch_1(*args, **kwargs):
        if args[6] == 1:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "train_one_epoch", killed_at_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        _run(params, synthetic_tiny, out)
    # the new run's epoch-0 checkpoint, no metrics.json beside it; the old finished run kept aside
    assert read_checkpoint(out / "last.pt")["epoch"] == 0 and not (out / "metrics.json").exists()
    kept = json.loads((out / train_mod.PREVIOUS_RUN / "metrics.json").read_text())
    assert kept["val"]["Total"] == first["val"]["Total"]
    (out / ".metrics.json.killed1.tmp").write_text("{half")  # a killed atomic write
    monkeypatch.setattr(train_mod, "train_one_epoch", real)
    second = _run(params, synthetic_tiny, out)
    assert [h["epoch"] for h in second["history"]] == [-1, 0, 1]
    assert not (out / train_mod.PREVIOUS_RUN).exists() and not (out / ".metrics.json.killed1.tmp").exists()
    assert json.loads((out / "metrics.json").read_text())["history"][-1]["epoch"] == 1


def test_out_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    params = _params(tmp_path, epochs=1, num_frames=1)
    out = tmp_path / "run"
    out.write_text("not a directory")
    with pytest.raises(SystemExit):
        _run(params, tmp_path / "data", out)
    assert capsys.readouterr().err.strip() == f"error: {out}: --out: exists and is not a directory"
    assert out.read_text() == "not a directory"


def test_cosine_schedule_warms_up_then_decays_to_zero_every_step():
    base = BASE | {"lr": 1e-3, "epochs": 2, "schedule": "cosine", "warmup_steps": 4}
    train = TrainConfig.parse(base)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    scheduler = train_mod.lr_scheduler(optimizer, train, steps_per_epoch=10)
    assert train.per_step
    lrs = []
    for _ in range(20):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[:5] == pytest.approx([2e-4, 4e-4, 6e-4, 8e-4, 1e-3])  # linear warm-up to lr
    assert all(a > b for a, b in zip(lrs[4:], lrs[5:]))  # then strictly down
    assert lrs[12] == pytest.approx(0.5e-3, rel=0.15) and lrs[-1] < 2e-5  # half way, then near 0 at the end
    for key in ("milestones", "gamma", "lr_drop"):  # multistep's keys are dead under cosine: refused
        with pytest.raises(DataError, match=f"train.{key}"):
            TrainConfig.parse(base | {key: {"milestones": [1], "gamma": 0.1, "lr_drop": "at_milestone"}[key]})
    with pytest.raises(DataError, match="train.warmup_steps"):
        TrainConfig.parse(BASE | {"warmup_steps": 3})
    with pytest.raises(DataError, match="train.schedule"):
        TrainConfig.parse(base | {"schedule": "linear"})


@pytest.mark.parametrize("n, batch, world, steps", [(100, 32, 1, 3), (10, 32, 1, 1), (100, 32, 2, 1), (64, 32, 1, 2)])
def test_steps_per_epoch_is_the_loaders_length(n, batch, world, steps):
    assert train_mod.steps_per_epoch(n, batch, world) == steps
    if world == 1:
        loader = torch.utils.data.DataLoader(list(range(n)), batch_size=batch, drop_last=n >= batch)
        assert len(loader) == steps


def test_freezing_finds_each_models_backbone():
    """The fine-tune recipes freeze the backbone at the model's ``backbone_path`` (DCPose's is ``rough.backbone``)."""
    from dsta.models import create_model

    model = create_model(
        "dcpose", backbone="resnet18", deconv_channels=16, prf_channels=17, combine_channels=16, dilations=(1,)
    )
    assert train_mod.backbone_of(model) is model.rough.backbone
    model.train()
    train_mod.set_backbone_frozen(model, True)
    assert not any(p.requires_grad for p in model.rough.backbone.parameters())
    assert all(p.requires_grad for p in model.prf.parameters()) and not model.rough.backbone.training
    groups = train_mod.param_groups(model, TrainConfig.parse(BASE | {"lr": 1e-3, "backbone_lr_mult": 0.1}))
    assert len(groups[0]["params"]) == len(list(model.rough.backbone.parameters()))
    train_mod.set_backbone_frozen(model, False)  # thawed again: what the loop froze
    assert all(p.requires_grad for p in model.rough.backbone.parameters()) and model.rough.backbone.training
    # what the model froze itself (the official recipe's frozen HRNet: freeze_rough) no loop epoch thaws
    own = create_model(
        "dcpose",
        backbone="resnet18",
        deconv_channels=16,
        prf_channels=17,
        combine_channels=16,
        dilations=(1,),
        freeze_rough=True,
    )
    own.train()
    for frozen in (False, True, False):
        train_mod.set_backbone_frozen(own, frozen)
        assert not any(p.requires_grad for p in own.rough.parameters())


def test_gpu_schedule_runs_at_a_tiny_size(tmp_path, synthetic_tiny):
    """experiments=synthetic_gpu on the CPU at a tiny size: its pretraining exports a backbone, and a fine-tune of
    the matrix starts from it with the backbone frozen (the recipe the GPU runs, one code path)."""
    from dsta.config import compose

    params = compose(["experiments=synthetic_gpu", "seeds=[0]"])
    for section, name in (("pretrain", "rle"), ("experiments", "dsta_t3")):
        cfg = params[section][name]
        cfg["data"]["input_size"] = [32, 48]
        cfg["train"].update(epochs=1, batch_size=16, workers=0, warmup_steps=1)
        if "freeze_backbone_epochs" in cfg["train"]:
            cfg["train"]["freeze_backbone_epochs"] = 1
    params["experiments"] = {"dsta_t3": params["experiments"]["dsta_t3"]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    backbone = tmp_path / "pretrain" / "rle" / "backbone.pt"
    train_mod.main(
        [
            "--params",
            str(tmp_path / "params.yaml"),
            "--section",
            "pretrain",
            "--experiment",
            "rle",
            "--data-root",
            str(synthetic_tiny),
            "--out",
            str(tmp_path / "runs" / "pre"),
            "--export-backbone",
            str(backbone),
        ]
    )
    params["experiments"]["dsta_t3"]["model"]["kwargs"]["pretrained"] = str(backbone)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = train_mod.main(
        [
            "--params",
            str(tmp_path / "params.yaml"),
            "--experiment",
            "dsta_t3",
            "--data-root",
            str(synthetic_tiny),
            "--out",
            str(tmp_path / "runs" / "t3"),
        ]
    )
    assert [h["epoch"] for h in result["history"]] == [-1, 0] and result["val"]["Total"] >= 0
    state = read_checkpoint(tmp_path / "runs" / "t3" / "last.pt")["state_dict"]
    exported = torch.load(backbone, weights_only=True)
    assert all(torch.equal(state[f"backbone.{k}"], v) for k, v in exported.items())  # frozen: still the pretraining's


def test_a_warm_up_as_long_as_the_schedule_is_refused(tmp_path, synthetic_tiny, capsys):
    params = _params(tmp_path, epochs=1, num_frames=1)
    doc = yaml.safe_load(params.read_text())
    train = doc["experiments"]["tiny"]["train"]
    del train["milestones"], train["gamma"]
    train.update(schedule="cosine", warmup_steps=50)
    params.write_text(yaml.safe_dump(doc))
    with pytest.raises(SystemExit):
        _run(params, synthetic_tiny, tmp_path / "run")
    assert "train.warmup_steps: 50 >= the schedule's" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
