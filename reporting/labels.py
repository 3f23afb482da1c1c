"""What the report calls things, in one place: methods, backbones, joints, the groups of a main table, each kind of
row (as the Markdown's Source column and the LaTeX's Method cell say it) and the papers cited for them
(``reports/references.bib``). Every page, table and figure reads its names from here."""

from __future__ import annotations

from dataclasses import dataclass

#: this project's models by registry name, as the papers name them (a plugin's model: its ``ModelPlugin.label``)
METHOD_NAMES = {"dsta": "DSTA", "rle": "RLE", "heatmap_single": "SimpleBaseline", "dcpose": "DCPose"}
BACKBONE_NAMES = {
    "resnet18": "ResNet-18",
    "resnet34": "ResNet-34",
    "resnet50": "ResNet-50",
    "resnet101": "ResNet-101",
    "hrnet_w32": "HRNet-W32",
    "hrnet_w48": "HRNet-W48",
    "regnetx_002": "RegNetX-200MF",
    "resnet10t": "ResNet-10-T",
}
#: poseval's column keys -> the names the tables and figures print
JOINT_NAMES = {
    "Head": "Head",
    "Shou": "Shoulder",
    "Elb": "Elbow",
    "Wri": "Wrist",
    "Hip": "Hip",
    "Knee": "Knee",
    "Ankl": "Ankle",
    "Total": "Mean",
}

#: the groups of a main table: (heatmap or regression, single or multi frame) -> its name
BLOCKS = {
    ("heatmap", "single"): "Heatmap-based, single-frame",
    ("heatmap", "multi"): "Heatmap-based, multi-frame",
    ("regression", "single"): "Regression-based, single-frame",
    ("regression", "multi"): "Regression-based, multi-frame",
}
REPRODUCED_BLOCK = "reproduced here"  # the suffix of a reproduced group's name
RELEASED_BLOCK = "released weights evaluated here"  # the suffix of a released checkpoints' group
CHANCE_BLOCK = "Chance level (no image)"


@dataclass(frozen=True)
class RowKind:
    """How one kind of main-table row is labelled: ``source`` is the Markdown table's Source cell (``{ref}``: its
    footnote, ``{cite}``: its BibTeX key, ``{tabulated}``: "as tabulated in [...]", ``{mark}``: its note letter);
    ``latex`` the LaTeX table's Method cell (``{method}``, ``{cite}``, ``{init}``, LaTeX already), None for a row the
    LaTeX leaves out."""

    source: str
    latex: str | None


ROW_KINDS = {
    "reported": RowKind("[{cite}]{tabulated}{mark}", "{method}{cite}"),
    "reproduction": RowKind("a user's reproduction [{cite}]{mark}", "{method}{cite}"),  # not published
    "reproduced": RowKind("this run [{ref}]", "{method}{cite} (repro., {init})"),
    "released": RowKind("released weights, evaluated here [{ref}]", "{method} (released weights, evaluated here)"),
    "prior": RowKind("chance level [{ref}]", "{method} (no image)"),
    "delta": RowKind("Δ vs [{cite}]", None),  # a reading aid, not a result
}

#: sources in reports/references.bib that are not publications: a row taken from one says so in Markdown and LaTeX
UNPUBLISHED = {"mmpose": "the MMPose model zoo", "dsta_issue2": "a GitHub issue of zgspose/DSTA"}

#: the primary paper of each method this project reproduces, by its name in the tables
METHOD_CITES = {"DSTA": "dsta", "RLE": "rle", "SimpleBaseline": "simplebaseline", "HRNet": "hrnet", "DCPose": "dcpose"}
#: the backbones' papers, cited in a table's caption when its rows use them
BACKBONE_CITES = {"ResNet": "resnet", "HRNet": "hrnet", "ViT": "vit"}
#: the paper that introduced each dataset a table reports on
DATASET_CITES = {"posetrack17": "posetrack", "posetrack18": "posetrack", "posetrack21": "posetrack21"}


def method_label(model: str, backbone: str = "", label: str | None = None) -> str:
    """A registry name as the papers name the method: ours (``METHOD_NAMES``; SimpleBaseline on an HRNet backbone is
    HRNet), else ``label`` (a plugin's), else the name itself."""
    if model == "heatmap_single" and backbone.startswith("hrnet"):
        return "HRNet"
    return METHOD_NAMES.get(model, label or model)


#: how a model builds an HRNet backbone: the pose papers' trunk (``dsta.nn.backbones.create_hrnet_pose``) or timm's
#: classification network; the two HRNet-W48 have different parameters, so their rows are named apart
HRNET_TRUNKS = {"heatmap_single": "pose", "dcpose": "pose", "dsta": "cls", "rle": "cls"}
TRUNK_NOTES = {
    "pose": "the pose papers' HRNet trunk (the stride-4 branch; HRNet's and DCPose's releases)",
    "cls": "timm's classification HRNet trunk with its incre head (2048-channel features)",
}


def backbone_label(backbone: str, model: str = "") -> str:
    """A backbone as the tables name it; an HRNet says which trunk the model builds (``HRNet-W48-pose``,
    ``HRNet-W48-cls``), where the model's is known."""
    name = BACKBONE_NAMES.get(backbone, backbone)
    trunk = HRNET_TRUNKS.get(model) if backbone.startswith("hrnet") else None
    return f"{name}-{trunk}" if trunk else name


def backbone_note(labels: list[str]) -> str:
    """What the HRNet trunk suffixes among ``labels`` mean (empty when none has one)."""
    said = [f"-{t}, {note}" for t, note in TRUNK_NOTES.items() if any(str(b).endswith(f"-{t}") for b in labels)]
    return ("HRNet backbones: " + "; ".join(said) + ".") if said else ""
