"""Every fact about PoseTrack keypoints, in one place.

No other module in dsta-bench writes a joint index: they ask this one.

PoseTrack18/21 store 17 keypoints in a COCO-like order where the COCO eye slots hold ``head_bottom`` and
``head_top`` and the two ear slots exist but are never annotated. PoseTrack17 (and the official evaluator,
poseval) number 15 joints in the LSP-like order below. DSTA groups 15 of the 17 keypoint tokens into 5 groups of 3
adjacent joints; the 2 ear tokens belong to no group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# --- PoseTrack18/21 order: the order of ``keypoints`` in the JSON files and of every tensor in this project ---
KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "head_bottom",
    "head_top",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
KEYPOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(KEYPOINT_NAMES)}

# PoseTrack never annotates the ears: their slots are (0, 0, 0) in every file, so they get zero training weight and
# the evaluator drops them.
UNANNOTATED_KEYPOINTS: tuple[str, ...] = ("left_ear", "right_ear")


def _mirror(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[len("left_") :]
    if name.startswith("right_"):
        return "left_" + name[len("right_") :]
    return name


# Index of each keypoint's mirror image (itself for the midline joints), as mmpose's ``flip_indices``.
FLIP_INDICES: tuple[int, ...] = tuple(KEYPOINT_INDEX[_mirror(n)] for n in KEYPOINT_NAMES)
# The left/right pairs, each once.
FLIP_PAIRS: tuple[tuple[int, int], ...] = tuple((i, j) for i, j in enumerate(FLIP_INDICES) if i < j)

# Limbs to draw, as name pairs (the PoseTrack18 ``categories.skeleton`` without the ear edges, which have no data).
SKELETON_NAMES: tuple[tuple[str, str], ...] = (
    ("head_top", "nose"),
    ("nose", "head_bottom"),
    ("head_bottom", "left_shoulder"),
    ("head_bottom", "right_shoulder"),
    ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_hip", "right_hip"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
)
SKELETON: tuple[tuple[int, int], ...] = tuple((KEYPOINT_INDEX[a], KEYPOINT_INDEX[b]) for a, b in SKELETON_NAMES)
# The PoseTrack18 file's own ``categories[0].skeleton`` (1-based, with the ear edges), written into files we produce.
POSETRACK18_CATEGORY_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14),
    (14, 12),
    (17, 15),
    (15, 13),
    (12, 13),
    (6, 12),
    (7, 13),
    (6, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (9, 11),
    (2, 3),
    (1, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
    (5, 7),
)

# --- The official evaluator's 15 joints (poseval ``Joint``); PoseTrack17 ``annopoints`` ids are these ids ---
POSEVAL_JOINT_NAMES: tuple[str, ...] = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "head_bottom",  # poseval calls it "neck"
    "nose",
    "head_top",
)
NUM_POSEVAL_JOINTS = len(POSEVAL_JOINT_NAMES)
# For poseval joint j, the index of the same joint in the 17-keypoint order.
POSEVAL_TO_KEYPOINT: tuple[int, ...] = tuple(KEYPOINT_INDEX[n] for n in POSEVAL_JOINT_NAMES)
# For keypoint k, its poseval id, or -1 for the ears (discarded by the 17 -> 15 conversion).
KEYPOINT_TO_POSEVAL: tuple[int, ...] = tuple(
    POSEVAL_JOINT_NAMES.index(n) if n in POSEVAL_JOINT_NAMES else -1 for n in KEYPOINT_NAMES
)
# PoseTrack17 annolist point ids are poseval ids.
POSETRACK17_ID_TO_KEYPOINT: dict[int, int] = dict(enumerate(POSEVAL_TO_KEYPOINT))

# The columns poseval prints, each the plain mean of its joints' APs; ``Total`` is the mean over all 15 joints.
POSEVAL_GROUPS: dict[str, tuple[str, ...]] = {
    "Head": ("head_top", "head_bottom", "nose"),
    "Shou": ("right_shoulder", "left_shoulder"),
    "Elb": ("right_elbow", "left_elbow"),
    "Wri": ("right_wrist", "left_wrist"),
    "Hip": ("right_hip", "left_hip"),
    "Knee": ("right_knee", "left_knee"),
    "Ankl": ("right_ankle", "left_ankle"),
}
POSEVAL_GROUP_INDICES: dict[str, tuple[int, ...]] = {
    g: tuple(POSEVAL_JOINT_NAMES.index(n) for n in names) for g, names in POSEVAL_GROUPS.items()
}
POSEVAL_COLUMNS: tuple[str, ...] = (*POSEVAL_GROUPS, "Total")

# Per-joint loss weights of the official DSTA/DCPose training (elbows/knees 1.2, wrists/ankles 1.5).
JOINT_LOSS_WEIGHTS: tuple[float, ...] = tuple(
    1.5 if n.endswith(("wrist", "ankle")) else 1.2 if n.endswith(("elbow", "knee")) else 1.0 for n in KEYPOINT_NAMES
)

# Joints of the upper body, used by half-body augmentation.
UPPER_BODY_NAMES: tuple[str, ...] = (
    "nose",
    "head_bottom",
    "head_top",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
)
UPPER_BODY_INDICES: tuple[int, ...] = tuple(KEYPOINT_INDEX[n] for n in UPPER_BODY_NAMES)
LOWER_BODY_INDICES: tuple[int, ...] = tuple(i for i in range(NUM_KEYPOINTS) if i not in UPPER_BODY_INDICES)


# --- DSTA's joint groups -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JointGroups:
    """A partition of keypoint tokens into groups of adjacent joints, for DSTA's local spatial attention.

    Attributes:
        names: one name per group.
        groups: keypoint indices of each group, in the order the tokens sit inside the group (the order matters:
            the learned position embedding is per place in the group).
        ungrouped: keypoint indices that belong to no group (their tokens skip spatial attention).
    """

    names: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]
    ungrouped: tuple[int, ...]

    def __post_init__(self) -> None:
        sizes = {len(g) for g in self.groups}
        if len(sizes) != 1:
            raise ValueError(f"joint groups must all have the same size, got sizes {sorted(sizes)}")
        flat = [i for g in self.groups for i in g] + list(self.ungrouped)
        if sorted(flat) != list(range(len(flat))):
            raise ValueError(f"joint groups must partition 0..{len(flat) - 1} exactly once, got {flat}")
        if len(self.names) != len(self.groups):
            raise ValueError("one name per joint group")

    @property
    def num_joints(self) -> int:
        return sum(len(g) for g in self.groups) + len(self.ungrouped)

    @property
    def group_size(self) -> int:
        return len(self.groups[0])

    @property
    def token_order(self) -> tuple[int, ...]:
        """Keypoint index of each token when tokens are laid out group by group, then the ungrouped ones."""
        return tuple(i for g in self.groups for i in g) + self.ungrouped


def _groups(spec: Sequence[tuple[str, Sequence[str]]], ungrouped: Sequence[str]) -> JointGroups:
    return JointGroups(
        names=tuple(n for n, _ in spec),
        groups=tuple(tuple(KEYPOINT_INDEX[j] for j in joints) for _, joints in spec),
        ungrouped=tuple(KEYPOINT_INDEX[j] for j in ungrouped),
    )


# The grouping of the official DSTA code: tokens 0-14 hold head (top, nose, bottom), left arm, right arm, left leg,
# right leg, each proximal to distal; tokens 15-16 are the ears. The official file encodes this as the read-out list
# ``joint_ordor = [1, 2, 0, 0, 0, 3, 6, 4, 7, 5, 8, 9, 12, 10, 13, 11, 14]`` (see dsta.models.dsta).
POSETRACK_JOINT_GROUPS = _groups(
    [
        ("head", ("head_top", "nose", "head_bottom")),
        ("left_arm", ("left_shoulder", "left_elbow", "left_wrist")),
        ("right_arm", ("right_shoulder", "right_elbow", "right_wrist")),
        ("left_leg", ("left_hip", "left_knee", "left_ankle")),
        ("right_leg", ("right_hip", "right_knee", "right_ankle")),
    ],
    ungrouped=("left_ear", "right_ear"),
)

# Named groupings a config can ask for (``model.joint_groups``).
JOINT_GROUPINGS: dict[str, JointGroups] = {"posetrack": POSETRACK_JOINT_GROUPS}


def joint_groups(name: str) -> JointGroups:
    """The joint grouping registered under ``name``."""
    try:
        return JOINT_GROUPINGS[name]
    except KeyError:
        raise ValueError(f"unknown joint grouping {name!r}; known: {sorted(JOINT_GROUPINGS)}") from None


def mmpose_metainfo() -> dict[str, Any]:
    """The dataset meta information mmpose's transforms and codecs read (flip indices, counts)."""
    return {
        "dataset_name": "posetrack",
        "num_keypoints": NUM_KEYPOINTS,
        "keypoint_id2name": dict(enumerate(KEYPOINT_NAMES)),
        "keypoint_name2id": dict(KEYPOINT_INDEX),
        "flip_indices": list(FLIP_INDICES),
        "flip_pairs": [list(p) for p in FLIP_PAIRS],
        "upper_body_ids": list(UPPER_BODY_INDICES),
        "lower_body_ids": list(LOWER_BODY_INDICES),
        "skeleton_links": [list(s) for s in SKELETON],
    }
