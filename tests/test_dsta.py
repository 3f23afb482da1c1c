
import pytest
import torch

from benchmarks.profiling.official_dsta import official_forward
from dsta import keypoints as kp
from dsta.convert_official import convert
from dsta.models import create_model, load_checkpoint, read_checkpoint, save_checkpoint
from dsta.models.dsta import DSTA
from tests.release_layouts import DSTA_LAYOUT
from tests.release_layouts import dsta_release_state_dict as _official_state_dict

LAYOUT = DSTA_LAYOUT


def test_official_layout_param_count():
    params = sum(torch.Size(e["shape"]).numel() for e in LAYOUT["state_dict"]
                 if not e["name"].endswith(("running_mean", "running_var", "num_batches_tracked", "flow.mask")))
    assert params == LAYOUT["num_parameters"] == 24_745_407


def test_conversion_gives_the_official_network(tmp_path):
    sd = _official_state_dict()
    src, dst = tmp_path / "official.pth", tmp_path / "ours.pt"
    torch.save({"epoch": 19, "state_dict": sd}, src)
    convert(src, dst)
    model = load_checkpoint(dst).eval()
    assert sum(p.numel() for p in model.parameters()) == 24_745_407
    ckpt = read_checkpoint(dst)
    assert ckpt["model"] == "dsta" and ckpt["kwargs"]["num_frames"] == 3 and ckpt["kwargs"]["backbone"] == "resnet50"

    torch.manual_seed(0)
    frames = torch.randn(2, 3, 3, 128, 96)  # (B, T, 3, H, W)
    ref_coords, ref_sigma = official_forward(sd, frames.flatten(1, 2))  # official input: (B, 3T, H, W)
    with torch.no_grad():
        out = model(frames)
    assert (out.coords - ref_coords).abs().max() <= 1e-4
    assert (out.sigma - ref_sigma).abs().max() <= 1e-4
    assert ref_coords.std() > 1e-3  # a meaningful comparison, not two constants


def test_conversion_rejects_other_checkpoints(tmp_path):
    from dsta.errors import DataError
    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}}, tmp_path / "x.pth")
    with pytest.raises(DataError, match="fc_coord"):
        convert(tmp_path / "x.pth", tmp_path / "y.pt")


@pytest.mark.parametrize("t", [1, 3, 5, 7])
def test_any_odd_t(t):
    model = DSTA("resnet18", num_frames=t, embed_dim=16, depth=1, num_heads=4).eval()
    with torch.no_grad():
        out = model(torch.randn(2, t, 3, 64, 48))
    assert out.coords.shape == (2, 17, 2) and out.sigma.shape == (2, 17, 2) and out.score.shape == (2, 17)
    assert ((out.sigma > 0) & (out.sigma < 1)).all()


def test_bad_arguments():
    from dsta.errors import DataError
    with pytest.raises(DataError, match="model.num_frames"):
        DSTA("resnet18", num_frames=4)
    with pytest.raises(DataError, match="model.backbone"):
        DSTA("vgg16", num_frames=3)
    with pytest.raises(ValueError, match="joint grouping"):
        DSTA("resnet18", num_frames=3, joint_groups="coco")


def test_custom_skeleton_groups():
    groups = kp.JointGroups(names=("a", "b"), groups=((0, 1), (2, 3)), ungrouped=(4,))
    model = DSTA("resnet18", num_frames=3, joint_groups=groups, embed_dim=16, depth=1, num_heads=4).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 3, 64, 48)).coords.shape == (1, 5, 2)


def test_readout_follows_the_joint_groups():
    """Our token k is keypoint token_order[k]; each keypoint's output must come from its own token."""
    model = DSTA("resnet18", num_frames=1, embed_dim=16, depth=1, num_heads=4)
    order = kp.POSETRACK_JOINT_GROUPS.token_order
    assert [order[t] for t in model.readout.tolist()] == list(range(17))


def test_checkpoint_round_trip(tmp_path):
    kwargs = dict(backbone="resnet18", num_frames=3, embed_dim=16, depth=1, num_heads=4)
    model = create_model("dsta", **kwargs).eval()
    save_checkpoint(tmp_path / "c.pt", "dsta", kwargs, model, epoch=3, config={"a": 1})
    again = load_checkpoint(tmp_path / "c.pt").eval()
    x = torch.randn(1, 3, 3, 64, 48)
    with torch.no_grad():
        assert torch.equal(model(x).coords, again(x).coords)
    assert read_checkpoint(tmp_path / "c.pt")["epoch"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["resnet18", "resnet50", "hrnet_w32"])
def test_backbones_forward_and_backward(backbone):
    model = DSTA(backbone, num_frames=3, embed_dim=16, depth=1, num_heads=4)
    out = model(torch.randn(2, 3, 3, 128, 96))  # HRNet needs sides divisible by 32
    (out.coords.sum() + out.sigma.sum()).backward()
    assert model.joint_embed.linear.weight.grad is not None


def _bias_names(model):
    return [n for n, _ in model.named_parameters() if n.endswith("bias") and not n.startswith("backbone.")]


def test_official_init_as_the_release_initialises():
    """zgspose/DSTA ``init_weights``: every bias of the new layers 0, the aggregation (``weighted_mean``) from
    N(0, 0.001), the flow's linear layers at PyTorch's default init (not xavier(0.01)); the backbone untouched."""
    torch.manual_seed(0)
    default = DSTA("resnet18", num_frames=3, embed_dim=32, depth=2, num_heads=8)
    torch.manual_seed(0)
    model = DSTA("resnet18", num_frames=3, embed_dim=32, depth=2, num_heads=8, init="official")
    params = dict(model.named_parameters())
    names = _bias_names(model)
    for part in ("spatial_blocks.0.attn.qkv.bias", "temporal_blocks.1.mlp.fc2.bias", "head_coord.1.bias",
                 "head_sigma.1.bias", "joint_embed.linear.bias", "aggregate.bias", "flow.s.0.0.bias",
                 "flow.t.5.4.bias"):
        assert part in names
    assert all(torch.count_nonzero(params[n]) == 0 for n in names)
    # the default keeps PyTorch's biases and starts the coordinates at the crop centre
    assert torch.count_nonzero(dict(default.named_parameters())["spatial_blocks.0.attn.qkv.bias"]) > 0
    assert (dict(default.named_parameters())["head_coord.1.bias"] > 0.3).all()
    # the aggregation's weight is the first draw after the call: N(0, 0.001)
    torch.manual_seed(1)
    model.init_official()
    torch.manual_seed(1)
    assert torch.equal(model.aggregate.weight, torch.empty(1, 2, 1, 1).normal_(0, 0.001))
    # the flow at PyTorch's default Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), instead of xavier(0.01)
    hidden = model.flow.s[0][2].weight  # 64 x 64: bound 1/8, std 1/(8 sqrt 3) = 0.072
    assert hidden.abs().max() <= 0.125 and 0.065 < hidden.std() < 0.080
    assert default.flow.s[0][2].weight.abs().max() < 0.01 * (6 / 128) ** 0.5 + 1e-7  # xavier(0.01) bound
    # the rest as built: the backbone and the transformer weights equal the default model's (same seed, same draws)
    for name, p in default.named_parameters():
        if name.startswith("backbone.") or name.endswith("qkv.weight") or name.startswith("pos"):
            assert torch.equal(p, params[name]), name
    with pytest.raises(AssertionError, match="init"):
        DSTA("resnet18", num_frames=3, init="xavier")


def _perturbed(model, seed=0):
    """Random weights everywhere (the zero-initialised position embeddings and norms included)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return model.eval()


def _training_without_drop_path(model):
    """Training mode (the module-by-module head) without stochastic depth: deterministic."""
    model.train()
    for m in model.modules():
        if hasattr(m, "drop_prob"):
            m.drop_prob = 0.0
    return model


FUSED_CASES = {  # (model kwargs): the PoseTrack grouping both ways, other groupings, widths and depths
    "posetrack": dict(num_frames=3),
    "posetrack-official-readout": dict(num_frames=3, official_readout=True),
    "t5-groups-of-5": dict(num_frames=5, joint_groups=kp.JointGroups(
        names=("a", "b", "c"), groups=((4, 0, 7, 1, 9), (2, 12, 5, 3, 14), (6, 8, 10, 11, 13)), ungrouped=(15, 16))),
    "t1-groups-of-1": dict(num_frames=1, joint_groups=kp.JointGroups(names=("a", "b"), groups=((1,), (0,)),
                                                                     ungrouped=(2, 3))),
    "c48-4-heads-depth-1-mlp3": dict(num_frames=3, embed_dim=48, num_heads=4, depth=1, mlp_ratio=3.0),
}


@pytest.mark.parametrize("kwargs", FUSED_CASES.values(), ids=FUSED_CASES.keys())
def test_fused_head_equals_the_modules_run_one_by_one(kwargs):
    """Inference on CUDA runs the head fused (``_aggregate_fused``, 40 operator calls); its pose is the one of the
    modules run one by one (the CPU's and training's path) within float rounding, with the same gradients."""
    model = _perturbed(DSTA("resnet18", **kwargs))
    t, j, c = model.num_frames, model.num_joints, model.embed_dim
    tokens = torch.randn(5, t, j, c, requires_grad=True)
    model.fused_head = True  # the CUDA default, here on the CPU
    fused = model.aggregate_frames(tokens)
    model.fused_head = False
    ref = model.aggregate_frames(tokens)
    for name in ("coords", "sigma", "score"):
        assert getattr(ref, name).std() > 0.01  # a meaningful comparison
        torch.testing.assert_close(getattr(fused, name), getattr(ref, name), atol=2e-5, rtol=1e-5)
    params = [p for n, p in model.named_parameters() if not n.startswith(("backbone.", "joint_embed.", "flow."))]
    loss = lambda out: out.coords.square().sum() + out.sigma.log().sum()  # noqa: E731
    grads = torch.autograd.grad(loss(fused), [tokens, *params])
    grads_ref = torch.autograd.grad(loss(ref), [tokens, *params])
    scale = max(g.abs().max().item() for g in grads_ref)  # rounding at the scale of the largest gradient (the
    for ours, theirs in zip(grads, grads_ref):  # aggregation's bias has none: the norm after it removes a shift)
        torch.testing.assert_close(ours, theirs, atol=1e-6 * scale, rtol=1e-3)

    assert model._fused_cache is None  # built per call under autograd, kept only where nothing needs its gradient
    with torch.no_grad():
        model.fused_head = True
        torch.testing.assert_close(model.aggregate_frames(tokens).coords, ref.coords, atol=2e-5, rtol=1e-5)
    assert model._fused_cache is not None
    model.fused_head = None  # the default: fused on CUDA only; training never fuses
    torch.testing.assert_close(_training_without_drop_path(model).aggregate_frames(tokens).coords, ref.coords)


def _module_coords(model, tokens):
    fused, model.fused_head = model.fused_head, False
    try:
        return model.aggregate_frames(tokens).coords
    finally:
        model.fused_head = fused


def test_fused_head_follows_weight_changes():
    """Under no_grad the fused weights are kept between calls; an in-place change of any head parameter (an
    optimizer step, ``load_state_dict``), a replaced parameter (``assign=True``), a move to another dtype, and
    ``eval()`` after a change that version counters do not see (``p.data``) build them again."""
    model = _perturbed(DSTA("resnet18", num_frames=3))
    model.fused_head = True
    tokens = torch.randn(2, 3, 17, 32)
    with torch.no_grad():
        first = model.aggregate_frames(tokens)
        stamp = model._fused_cache[0]
        assert torch.equal(model.aggregate_frames(tokens).coords, first.coords) and model._fused_cache[0] == stamp
        model.temporal_blocks[2].mlp.fc2.bias.add_(torch.randn(32))  # not a constant: a layer norm removes that
        changed = model.aggregate_frames(tokens)
        assert not torch.allclose(changed.coords, first.coords)
        torch.testing.assert_close(changed.coords, _module_coords(model, tokens), atol=2e-5, rtol=1e-5)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        state["head_coord.1.bias"] += 1.0
        model.load_state_dict(state)
        torch.testing.assert_close(model.aggregate_frames(tokens).coords, changed.coords + 1.0)
        state["head_coord.1.bias"] += 1.0
        model.load_state_dict(state, assign=True)  # new parameter objects
        torch.testing.assert_close(model.aggregate_frames(tokens).coords, changed.coords + 2.0)
        model.spatial_blocks[0].attn.qkv.weight.data.mul_(1.5)  # behind the version counter's back ...
        model.eval()  # ... so eval() again, as the docstring asks
        torch.testing.assert_close(model.aggregate_frames(tokens).coords, _module_coords(model, tokens),
                                   atol=2e-5, rtol=1e-5)
        model.double()
        out = model.aggregate_frames(tokens.double())
        assert out.coords.dtype == torch.float64
        torch.testing.assert_close(out.coords, _module_coords(model, tokens.double()), atol=1e-10, rtol=1e-10)


def test_fused_head_under_autocast_keeps_its_weights_in_autocasts_dtype():
    """Under autocast the kept weights are folded in float32 and kept cast to autocast's dtype (its casts then copy
    nothing); a later float32 call builds float32 ones (autocast's dtype is part of the stamp)."""
    model = _perturbed(DSTA("resnet18", num_frames=3))
    model.fused_head = True
    tokens = torch.randn(3, 3, 17, 32)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.aggregate_frames(tokens)
        weights = model._fused_cache[1]
        assert weights.head_w.dtype == weights.blocks[0][0].dtype == torch.bfloat16
        assert weights.norm_w.dtype == torch.float32  # group norms run in float32 under autocast
        ref = _module_coords(model, tokens)
        torch.testing.assert_close(low.coords.float(), ref, atol=0.1, rtol=0.05)  # bf16: 8 bits of mantissa
        out = model.aggregate_frames(tokens)
        assert model._fused_cache[1].head_w.dtype == torch.float32
        torch.testing.assert_close(out.coords, ref, atol=2e-5, rtol=1e-5)


def test_flop_counts_trace_the_modules_not_the_fused_layout():
    """fvcore traces ``aggregate_frames``: with ``fused_head`` on (as on CUDA) it still traces the modules, so the
    counted FLOPs are the algorithm's, not the fused layout's (block-diagonal zeros, padded heads)."""
    from benchmarks.profiling.flops import count_flops

    model = _perturbed(DSTA("resnet18", num_frames=3))
    tokens = torch.randn(2, 3, 17, 32)
    counts = {}
    for fused in (False, True):
        model.fused_head = fused
        counts[fused] = count_flops(_Aggregate(model), (tokens,), "backbone")
    assert counts[True] == counts[False] and counts[True]["total"] > 0


class _Aggregate(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens):
        out = self.model.aggregate_frames(tokens)
        return out.coords, out.sigma


def test_fused_head_only_where_the_group_size_equals_t():
    """T = 5 with groups of 3: two sequence lengths, no fused head; ``fused_head=True`` runs the modules."""
    model = _perturbed(DSTA("resnet18", num_frames=5))
    assert model.stream_rows is None
    model.fused_head = True
    tokens = torch.randn(2, 5, 17, 32)
    with torch.no_grad():
        out = model.aggregate_frames(tokens)
        model.fused_head = False
        torch.testing.assert_close(out.coords, model.aggregate_frames(tokens).coords, rtol=0, atol=0)


def test_aggregate_frames_compiles_to_one_graph():  # inductor's C++ build: about 10 s
    """``torch.compile(fullgraph=True)`` of the inference head: no graph break (CPU inductor; the fused head, which
    CUDA takes, so that CUDA graphs can capture the same one graph; the weights are fused inside the graph)."""
    import shutil

    if not (shutil.which("c++") or shutil.which("g++")):
        pytest.skip("torch.compile on the CPU needs a C++ compiler")
    torch._dynamo.reset()
    model = _perturbed(DSTA("resnet18", num_frames=3, embed_dim=16, depth=2, num_heads=4))
    model.fused_head = True  # the path CUDA takes, compiled here by the CPU inductor
    tokens = torch.randn(2, 3, 17, 16)
    compiled = torch.compile(model.aggregate_frames, fullgraph=True, backend="inductor")
    with torch.no_grad():
        out, ref = compiled(tokens), model.aggregate_frames(tokens)
    torch.testing.assert_close(out.coords, ref.coords, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.sigma, ref.sigma, atol=1e-5, rtol=1e-5)
