#!/usr/bin/env bash
# The GPU half of the benchmark as one prepared run, for a lent or borrowed CUDA machine.
#
#   WEIGHTS=vgg16-hed.safetensors IMAGES=../shared/images OUT=benchmark-results bash benchmarks/gpu.sh
#
# WEIGHTS: a VGG .safetensors file (e.g. a copy of ~/.cache/painterly/weights/vgg16-hed.safetensors),
# since such machines often cannot download; IMAGES: the folder with tubingen.jpg and starry_night.jpg.
# Each step has its own time limit, so that one slow step cannot take the others' time.
set -u
: "${WEIGHTS:?set WEIGHTS to a VGG .safetensors file}"
IMAGES=${IMAGES:-../shared/images}
OUT=${OUT:-benchmark-results}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

step() {  # NAME SECONDS BENCHMARK-ARGUMENTS...
    local name=$1 limit=$2
    shift 2
    echo "== $name (at most $limit s)"
    timeout "$limit" "$PYTHON" -m benchmarks --device cuda --weights "$WEIGHTS" \
        --pair "$IMAGES/tubingen.jpg" "$IMAGES/starry_night.jpg" --out "$OUT/$name.json" "$@" 2>&1 | tee "$OUT/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
"$PYTHON" -c 'import torch; print("torch", torch.__version__)' | tee -a "$OUT/gpu.txt"

# Defaults (eager bf16, channels_last, TF32) at 512 px against the fp32 reference, and bf16 vs fp32.
step eager-512 "${EAGER_SECONDS:-120}" --sizes 512 --skip-reference-above 512 --precision-check-size 512
# Large outputs, painterly alone (the plain reference needs minutes and tens of GB there).
step eager-large "${LARGE_SECONDS:-150}" --sizes 1024 2048 4096 --skip-reference-above 0 --precision-check-size 0
# Too large for the card: painterly must refuse before it starts, in one line, with exit code 2.
echo "== 8192 px (expect a refusal)"
timeout 40 "$PYTHON" -m painterly.cli "$IMAGES/tubingen.jpg" "$IMAGES/starry_night.jpg" -o "$OUT/8192.jpg" \
    --size 8192 --device cuda --weights "$WEIGHTS" --iterations 10 --quiet 2>&1 | tee "$OUT/8192.log"
echo "exit code ${PIPESTATUS[0]}" | tee -a "$OUT/8192.log"

# CUDA graphs through torch.compile: the warm-up run compiles every scale's shapes first.
step reduce-overhead "${COMPILED_SECONDS:-150}" --sizes 512 --skip-reference-above 0 --precision-check-size 0 \
    --set compile=reduce-overhead
