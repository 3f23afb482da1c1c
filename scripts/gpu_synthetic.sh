#!/usr/bin/env bash
# The synthetic_gpu schedule (configs/experiments/synthetic_gpu.yaml: 128 train videos, a 20-epoch pretraining and
# 4-epoch frozen-backbone fine-tunes, two seeds) on one offline GPU machine with Python 3.12 and torch
# (../shared/GPU-NOTES.md), side by side, without dvc.
#
#   scripts/gpu_synthetic.sh wheels                 # here, connected: the missing packages as wheels in .gpu/wheels
#   COMMIT=SHA OUT=DIR scripts/gpu_synthetic.sh run [OVERRIDE ...]   # there, in the checkout (with .gpu/wheels
#                                                    # carried along); COMMIT names the code in every provenance block
#
# `run` installs .gpu/wheels into .gpu/site (offline; skipped when the imports already work), composes
# OUT/params.yaml (`python -m dsta.config experiments=synthetic_gpu OVERRIDE ...`), generates the data, runs the
# pretrain entries, then the experiments JOBS at a time (default 6; 3 loader workers each), evaluates them, runs the
# robustness grid (full) on them and profiles them. It writes OUT/params.yaml, OUT/runs, OUT/eval, OUT/robustness,
# OUT/profiles, OUT/data/synthetic (val), OUT/logs and
# OUT/stage_seconds.tsv; every metrics file carries its provenance (machine, GPU, torch, commit, seed). Back here:
#
#   python -m reporting.build --params OUT/params.yaml --reference reports/reference.yaml --runs OUT/runs \
#       --eval OUT/eval --profiles OUT/profiles --benchmarks OUT/none.json --data OUT/data --out reports/synthetic_gpu \
#       --robustness OUT/robustness
#
# A CPU smoke test of the same path: OUT=/tmp/g JOBS=2 scripts/gpu_synthetic.sh run synthetic.train_sequences=2 \
#   synthetic.val_sequences=2 synthetic.frames=6
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && ! command -v nvidia-smi >/dev/null && PY=$PWD/.venv/bin/python

wheels() {
  local pip="$PY -m pip" w=.gpu/wheels
  mkdir -p "$w"
  $pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$w" \
    mmpose==1.3.2 mmengine==0.10.7 json_tricks==3.17.3 munkres==1.1.4 hydra-core==1.3.8 omegaconf==2.3.1 yacs==0.1.8 \
    orjson==3.13.0 shapely==2.2.0 addict==2.4.0 yapf==0.43.0 \
    termcolor==3.3.0 platformdirs==4.14.8 timm==1.0.31 safetensors==0.8.0 \
    imagecorruptions-imaug==1.1.5 numba==0.68.1 llvmlite==0.50.0 scikit-image==0.26.0 imageio==2.38.2 lazy-loader==0.6 \
    tifffile==2026.3.3
  # sdists: built here (pure Python, so the wheel fits any CPython 3)
  $pip wheel --no-deps --no-build-isolation -w "$w" mmcv-lite==2.1.0 fvcore==0.1.5.post20221221 iopath==0.1.10 \
    antlr4-python3-runtime==4.9.3
  # xtcocotools (mmpose.datasets imports it; this project never calls it) has no cp312 wheel for numpy 2: build one
  # with a Python 3.12 (PY312) in a throwaway venv, against numpy 2 (its setup.py imports numpy, undeclared)
  local py312=${PY312:-$(command -v python3.12 || true)}
  [ -n "$py312" ] || { echo "set PY312 to a Python 3.12 to build xtcocotools for the GPU machine" >&2; exit 1; }
  "$py312" -m venv .gpu/build312
  .gpu/build312/bin/pip install --quiet "numpy>=2,<3" cython "setuptools<82" wheel
  .gpu/build312/bin/pip wheel --no-deps --no-build-isolation -w "$w" xtcocotools==1.14.3
  ls -la "$w"
}

install() {
  if $PY -c "import mmpose.datasets.transforms, hydra, timm, fvcore, imagecorruptions" 2>/dev/null; then return; fi
  [ -d .gpu/wheels ] || { echo "no .gpu/wheels: run 'scripts/gpu_synthetic.sh wheels' on a connected machine" >&2; exit 1; }
  $PY -m pip install --quiet --no-index --no-deps --upgrade --target .gpu/site .gpu/wheels/*.whl
}

param() {  # a value of OUT/params.yaml by dotted key
  $PY -c "import sys, yaml; d = yaml.safe_load(open(sys.argv[1]))
for k in sys.argv[2].split('.'): d = d[k]
print(' '.join(d) if isinstance(d, dict) else d)" "$OUT/params.yaml" "$1"
}

timed() {  # NAME CMD...: run, log to OUT/logs/NAME.log, append the seconds to OUT/stage_seconds.tsv
  local name=$1 t0=$SECONDS; shift
  "$@" >"$OUT/logs/$name.log" 2>&1 || { echo "$name failed: see $OUT/logs/$name.log" >&2; tail -20 "$OUT/logs/$name.log" >&2; return 1; }
  echo -e "$name\t$((SECONDS - t0))" >>"$OUT/stage_seconds.tsv"
}
export -f timed

run() {
  : "${OUT:?set OUT to the output folder}"
  local jobs=${JOBS:-6}
  mkdir -p "$OUT/logs" && : >"$OUT/stage_seconds.tsv"
  # the device gets a copy of the working tree whose .git may be stale: name the commit (COMMIT) for provenance
  export DSTA_BENCH_COMMIT=${COMMIT:-${DSTA_BENCH_COMMIT:-}}
  export PYTHONPATH="$ROOT:$ROOT/.gpu/site${PYTHONPATH:+:$PYTHONPATH}" OUT PY
  install
  local t0=$SECONDS data="$OUT/data/synthetic"
  $PY -m dsta.config experiments=synthetic_gpu "$@" --out "$OUT/params.yaml"
  OUT=$(cd "$OUT" && pwd) && data="$OUT/data/synthetic" && cd "$OUT"  # the relative paths of params.yaml (pretrain/)
  timed synthetic $PY -m dsta.data.synthetic --out "$data" --seed "$(param synthetic.seed)" \
    --train-sequences "$(param synthetic.train_sequences)" --val-sequences "$(param synthetic.val_sequences)" \
    --frames "$(param synthetic.frames)" --width "$(param synthetic.width)" --height "$(param synthetic.height)" \
    --val-label-every "$(param synthetic.val_label_every)" --corrupt-prob "$(param synthetic.corrupt_prob)" \
    --max-persons "$(param synthetic.max_persons)"
  # pretrain: the backbones go where the experiments' model.kwargs.pretrained name them (pretrain/NAME/backbone.pt,
  # relative to OUT, the working directory from here on)
  printf '%s\n' $(param pretrain) | xargs -P "$jobs" -I{} bash -c 'timed pretrain@{} $PY -m dsta.train \
    --params "$OUT/params.yaml" --section pretrain --experiment {} --data-root "$0" --out "$OUT/runs/pretrain/{}" \
    --export-backbone pretrain/{}/backbone.pt' "$data"
  printf '%s\n' $(param experiments) | xargs -P "$jobs" -I{} bash -c 'timed train@{} $PY -m dsta.train \
    --params "$OUT/params.yaml" --experiment {} --data-root "$0" --out "$OUT/runs/{}" \
    && timed evaluate@{} $PY -m dsta.predict --checkpoint "$OUT/runs/{}/last.pt" --data-root "$0" --out "$OUT/eval/{}" \
    && timed robustness@{} $PY -m dsta.robustness --params "$OUT/params.yaml" --checkpoint "$OUT/runs/{}/last.pt" \
      --data-root "$0" --out "$OUT/robustness/{}"' \
    "$data"
  # profiles of the first seed's runs (the others are the same networks), one at a time so that timings do not share
  # the GPU
  for key in $(param experiments | tr ' ' '\n' | grep -v -- '-s[0-9]*$'); do
    timed "profile@$key" $PY -m benchmarks.profile --params "$OUT/params.yaml" --experiment "$key" \
      --out "$OUT/profiles/$key.json"
  done
  # checkpoints (about 130 MB each), pretrained backbones (45 MB) and train images stay there; metrics,
  # predictions and the val data come back
  rm -rf "$OUT"/runs/*/last.pt "$OUT"/runs/pretrain/*/last.pt "$OUT/pretrain" "$data/images/train"
  echo -e "total\t$((SECONDS - t0))" >>"$OUT/stage_seconds.tsv"
  cat "$OUT/stage_seconds.tsv"
}

case "${1:-}" in
  wheels) wheels ;;
  run) shift; run "$@" ;;
  *) sed -n '2,19p' "$0"; exit 2 ;;
esac
