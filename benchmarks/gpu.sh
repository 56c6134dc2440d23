#!/usr/bin/env bash
# The GPU half of the benchmark as one prepared run, for a lent or borrowed CUDA machine.
#
#   WEIGHTS=vgg16-hed.safetensors IMAGES=../shared/images OUT=benchmark-results bash benchmarks/gpu.sh
#
# WEIGHTS: a VGG .safetensors file (e.g. a copy of ~/.cache/painterly/weights/vgg16-hed.safetensors),
# since such machines often cannot download; IMAGES: the folder with tubingen.jpg and starry_night.jpg.
# Each step has its own time limit, so that one slow step cannot take the others' time, and writes
# its JSON as soon as it ends; the steps run most wanted first. About 9 minutes in all on an H200.
set -u
: "${WEIGHTS:?set WEIGHTS to a VGG .safetensors file}"
IMAGES=${IMAGES:-../shared/images}
OUT=${OUT:-benchmark-results}
PYTHON=${PYTHON:-python3}
PAIR=("$IMAGES/tubingen.jpg" "$IMAGES/starry_night.jpg")
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

step() {  # NAME SECONDS BENCHMARK-ARGUMENTS...
    local name=$1 limit=$2
    shift 2
    echo "== $name (at most $limit s)"
    timeout "$limit" "$PYTHON" -m benchmarks --device cuda --weights "$WEIGHTS" \
        --pair "${PAIR[@]}" --out "$OUT/$name.json" "$@" 2>&1
    echo "== $name: exit code $?"
}

profile() {  # NAME SECONDS PROFILE-ARGUMENTS...
    local name=$1 limit=$2
    shift 2
    echo "== $name (at most $limit s)"
    timeout "$limit" "$PYTHON" -m benchmarks.profile --device cuda --weights "$WEIGHTS" \
        --pair "${PAIR[@]}" --out "$OUT/$name.json" "$@" 2>&1
    echo "== $name: exit code $?"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
    nproc
} 2>&1

# Where the time of a 512 px default run goes (eager: bf16, channels_last, TF32).
profile profile-512-eager "${PROFILE_SECONDS:-70}" --size 512
# Large outputs, painterly alone: time, peak memory and the memory estimate, up to 8192 px.
step large "${LARGE_SECONDS:-170}" --sizes 2048 4096 8192 --skip-reference-above 0 --precision-check-size 0 --warmup 5
# CUDA graphs through torch.compile: the warm-up run compiles every scale's shapes first.
step reduce-overhead "${COMPILED_SECONDS:-150}" --sizes 512 1024 --skip-reference-above 0 --precision-check-size 0 \
    --set compile=reduce-overhead
# Eager at 512 (against the plain fp32 reference) and 1024 px.
step eager "${EAGER_SECONDS:-100}" --sizes 512 1024 --skip-reference-above 512 --precision-check-size 0
# Where the time of the compiled run goes.
profile profile-512-reduce-overhead "${PROFILE_COMPILED_SECONDS:-90}" --size 512 --set compile=reduce-overhead
