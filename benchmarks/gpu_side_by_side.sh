#!/usr/bin/env bash
# Side-by-side GPU timings at paper size, in one process each: DSTA-R50 T=3 streaming vs RLE-R50 per frame, then our
# DSTA-R50 clip forward vs the released network's (official_dsta_r50, benchmarks/profiling/official_dsta.py) in fp32
# and fp16 autocast (AMP).
#
#   OUT=DIR bash benchmarks/gpu_side_by_side.sh            # on a CUDA machine, from the repository root
#   OUT=DIR DEVICE=cpu TINY=1 PYTHON=.venv/bin/python bash benchmarks/gpu_side_by_side.sh   # the script's own logic, on the CPU
#
# For offline GPU machines (../shared/GPU-NOTES.md): wheels in .gpu/wheels (timm, orjson, safetensors; fetch them on
# a connected machine with `pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp
# --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .gpu/wheels
# timm==1.0.31 orjson==3.13.0 safetensors==0.8.0`) are installed into a fresh directory put first on PYTHONPATH.
# Each configuration writes OUT/<name>.json (schema: benchmarks/profiling/side_by_side.py) and OUT/<name>.log; a
# failing configuration is logged and the others still run. OUT/manifest.txt lists what ran, with the commit (COMMIT
# overrides it where the copy has no .git).
set -uo pipefail
OUT=${OUT:?set OUT to the output directory}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python}
mkdir -p "$OUT"
if ls .gpu/wheels/*.whl >/dev/null 2>&1; then
    SITE=$(mktemp -d)
    "$PY" -m pip install -q --no-index --no-deps --target "$SITE" .gpu/wheels/*.whl
    export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ -n "${TINY:-}" ]; then
    PAIR=(rle_tiny dsta_tiny:streaming); SIZE=(48 64); BIG=4; R1=2; I1=2; R64=2; I64=1
else
    PAIR=(rle_r50 dsta_r50:streaming); SIZE=(192 256); BIG=64; R1=7; I1=20; R64=5; I64=5
fi
GRAPHS=--cuda-graphs
[ "$DEVICE" = cuda ] || GRAPHS=""   # CUDA graphs exist on CUDA only: on the CPU those runs go without

export DSTA_BENCH_COMMIT=${COMMIT:-${DSTA_BENCH_COMMIT:-}}
{ echo "commit ${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"; date -u; "$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"; } > "$OUT/manifest.txt"

run() {  # name, then profile flags
    local name=$1; shift
    local start=$SECONDS
    if timeout "${STEP_TIMEOUT:-150}" "$PY" -m benchmarks.profile --side-by-side "${ENTRIES[@]}" --input-size "${SIZE[@]}" \
            --device "$DEVICE" --warmup 3 --out "$OUT/$name.json" "$@" > "$OUT/$name.log" 2>&1; then
        echo "ok     $name $((SECONDS - start)) s: $*" >> "$OUT/manifest.txt"
        tail -n 2 "$OUT/$name.log"
    else
        echo "FAILED $name $((SECONDS - start)) s: $*" >> "$OUT/manifest.txt"
        tail -n 5 "$OUT/$name.log"
    fi
}

# DSTA's head: operator calls and the GPU kernels behind them, fused vs module by module, and their times
if [ "$DEVICE" = cuda ]; then
    if "$PY" -m benchmarks.head_ops --device cuda --time-batches 1 64 --out "$OUT/head_ops_cuda.json" \
            > "$OUT/head_ops_cuda.log" 2>&1; then echo "ok     head_ops_cuda" >> "$OUT/manifest.txt"
    else echo "FAILED head_ops_cuda" >> "$OUT/manifest.txt"; fi
    tail -n 3 "$OUT/head_ops_cuda.log"
fi

# DSTA streaming / RLE; latency, batch 1
ENTRIES=("${PAIR[@]}")
B1=(--batches 1 --rounds "$R1" --iters "$I1")
run b1_fp32 "${B1[@]}"
run b1_fp32_graphs "${B1[@]}" $GRAPHS
run b1_bf16_graphs "${B1[@]}" --dtype bf16 $GRAPHS
run b1_fp16_graphs "${B1[@]}" --dtype fp16 $GRAPHS
run b1_fp16_cl_compile_graphs "${B1[@]}" --dtype fp16 --channels-last --compile $GRAPHS
# throughput
BB=(--batches "$BIG" --rounds "$R64" --iters "$I64")
run b${BIG}_fp32 "${BB[@]}"
run b${BIG}_bf16_cl "${BB[@]}" --dtype bf16 --channels-last
run b${BIG}_fp16_cl_graphs "${BB[@]}" --dtype fp16 --channels-last $GRAPHS
run b${BIG}_fp16_cl_compile_graphs "${BB[@]}" --dtype fp16 --channels-last --compile $GRAPHS
# ours / the release's forward, clip mode, the same weights (the reference first: ratios are ours / release)
ENTRIES=(official_dsta_r50 dsta_r50)
run release_b1_fp32 "${B1[@]}"
run release_b1_fp16 "${B1[@]}" --dtype fp16
run release_b${BIG}_fp32 "${BB[@]}"
run release_b${BIG}_fp16 "${BB[@]}" --dtype fp16
cat "$OUT/manifest.txt"
