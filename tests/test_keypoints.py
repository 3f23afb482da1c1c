from dsta.core import keypoints as kp


def test_posetrack_order_and_ears():
    assert kp.NUM_KEYPOINTS == 17
    assert kp.KEYPOINT_NAMES[:3] == ("nose", "head_bottom", "head_top")
    assert set(kp.UNANNOTATED_KEYPOINTS) == {"left_ear", "right_ear"}


def test_flip_indices_are_an_involution_that_swaps_sides():
    for i, j in enumerate(kp.FLIP_INDICES):
        assert kp.FLIP_INDICES[j] == i
        a, b = kp.KEYPOINT_NAMES[i], kp.KEYPOINT_NAMES[j]
        assert a.replace("left", "X").replace("right", "left").replace("X", "right") == b
    assert len(kp.FLIP_PAIRS) == 7


def test_poseval_order_round_trips_and_drops_ears():
    assert kp.NUM_POSEVAL_JOINTS == 15
    for j, k in enumerate(kp.POSEVAL_TO_KEYPOINT):
        assert kp.KEYPOINT_TO_POSEVAL[k] == j
    ears = [kp.KEYPOINT_INDEX[e] for e in kp.UNANNOTATED_KEYPOINTS]
    assert all(kp.KEYPOINT_TO_POSEVAL[e] == -1 for e in ears)
    assert kp.POSEVAL_JOINT_NAMES[0] == "right_ankle" and kp.POSEVAL_JOINT_NAMES[14] == "head_top"
    assert kp.POSETRACK17_ID_TO_KEYPOINT[12] == kp.KEYPOINT_INDEX["head_bottom"]


def test_poseval_groups_cover_15_joints_once():
    idx = sorted(i for g in kp.POSEVAL_GROUP_INDICES.values() for i in g)
    assert idx == list(range(15))
    assert kp.POSEVAL_COLUMNS[-1] == "Total"


def test_dsta_joint_groups_match_the_official_layout():
    g = kp.POSETRACK_JOINT_GROUPS
    assert g.group_size == 3 and len(g.groups) == 5 and g.num_joints == 17
    assert g.ungrouped == (kp.KEYPOINT_INDEX["left_ear"], kp.KEYPOINT_INDEX["right_ear"])
    # the official read-out list joint_ordor: output keypoint k reads token joint_ordor[k]
    official = [1, 2, 0, 0, 0, 3, 6, 4, 7, 5, 8, 9, 12, 10, 13, 11, 14]
    for k, token in enumerate(official):
        if kp.KEYPOINT_NAMES[k] in kp.UNANNOTATED_KEYPOINTS:
            continue  # the official code reads the ears from token 0 (head_top): see dsta.models.dsta
        assert g.token_order[token] == k


def test_skeleton_uses_known_joints_and_no_ears():
    ears = {kp.KEYPOINT_INDEX[e] for e in kp.UNANNOTATED_KEYPOINTS}
    for a, b in kp.SKELETON:
        assert 0 <= a < 17 and 0 <= b < 17 and not {a, b} & ears


def test_mmpose_metainfo():
    meta = kp.mmpose_metainfo()
    assert meta["num_keypoints"] == 17 and meta["flip_indices"] == list(kp.FLIP_INDICES)
