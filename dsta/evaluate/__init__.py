"""PoseTrack multi-person pose AP with the semantics of the official evaluator (poseval ``evaluateAP``), vectorized,
and with one tie-break rule that gives the same number on every machine.

What is computed, step by step, as poseval does it (``read``, ``match``, ``ap``):

1. The GT files are taken **in name order**. Each GT file (PoseTrack17 annolist or PoseTrack18/21) is paired with the
   prediction file of the same name; their frames are paired in file order. PoseTrack18 keypoints stored as
   ``(0, 0, 0)`` are "not there" (the ears always); the 17 keypoints become poseval's 15 joints (ears dropped).
2. Frames whose GT lists no person at all are dropped, together with their predictions.
3. Inside the GT frame's ignore regions (polygons; a point on the border is outside), GT and predicted points are
   removed.
4. Per frame, each predicted person p and GT person g get ``PCKh(p, g)``: the fraction of g's annotated joints that p
   predicts within ``0.5 * head size``, head size being ``0.6 *`` the diagonal of g's head box. Each prediction keeps
   only its best GT (first on ties); each GT then takes the prediction with the highest remaining PCKh (first on ties),
   if that PCKh is above 0. A matched prediction's joints are true positives where they lie within the threshold;
   every other predicted joint is a false positive.
5. Per joint, all predicted joints are gathered in poseval's order (sequence file by name, then frame, then predicted
   person in file order) and ordered by **descending score with a stable sort**: equal scores keep that order of
   appearance. The precision/recall curve gives AP, the VOC area under its monotone envelope.
6. ``Head``..``Ankl`` are plain means of their joints' APs; ``Total`` is the mean over the 15 joints (joints with no
   GT at all are NaN and left out of ``Total``).

The tie-break rule (steps 1 and 5). Stock poseval takes the files in ``glob`` (directory-listing) order and orders
scores with numpy's unstable ``argsort`` reversed. Where no two scores are equal, that is exactly the rule above. Where
scores tie (identity predictions, scores clipped at 1.0, saturating detectors), the AP depends on how the ties are
ordered, and numpy orders them differently on different CPUs (its SIMD sort differs between AVX2 and AVX-512), so
stock poseval's own AP moves from machine to machine (by up to 1.5 points on the shared evaluation cases). This
evaluator uses the stable rule, which gives one answer everywhere; the reference cases in ``../shared`` were made by
poseval changed in exactly those two places, and this evaluator reproduces them within 0.01 on any CPU.

``python -m dsta.evaluate --gt GT_DIR --pred PRED_DIR [--out metrics.json] [--split-by FIELD] [--backend poseval]``
"""

from dsta.evaluate.ap import compute, evaluate, voc_ap
from dsta.evaluate.cli import format_table, main, to_json
from dsta.evaluate.match import match_frames
from dsta.evaluate.poseval_backend import evaluate_poseval
from dsta.evaluate.read import Loaded, People, load, read_file
from dsta.evaluate.write import PosePrediction, write_predictions

__all__ = [
    "Loaded",
    "People",
    "PosePrediction",
    "compute",
    "evaluate",
    "evaluate_poseval",
    "format_table",
    "load",
    "main",
    "match_frames",
    "read_file",
    "to_json",
    "voc_ap",
    "write_predictions",
]
