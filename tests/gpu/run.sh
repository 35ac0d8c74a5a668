#!/usr/bin/env bash
# run.sh - the GPU checks of aesweep's CUDA backend (make test-gpu; needs an NVIDIA GPU).
#
#   bash tests/gpu/run.sh              build (make, nvcc on the PATH), then check
#   bash tests/gpu/run.sh --bundle     build here and copy the shared libraries build/aesweep
#                                      needs into build/gpu-libs, then stop: for a GPU
#                                      machine without libconfig/HDF5 (carry build/ there)
#   bash tests/gpu/run.sh --prebuilt   check with build/aesweep and build/test_gpu as they are
#
# Checks, each reported, all run even when one fails; exit 1 if any failed:
#   1. build/test_gpu: init bits, 2 000-step AdamW against the CPU, divergence (test_gpu.c)
#   2. sweeps on both backends, outcomes compared with h5py (tests/gpu/compare.py):
#      sweeps/quickstart.cfg, and tests/gpu/{small,chaos,file}.cfg under each kernel variant
#   3. compute-sanitizer memcheck and racecheck on a small sweep, each kernel variant
#   4. for information: aesweep bench (n = 7, 16, 64, every variant) and, if torch is
#      installed, analysis/baselines/torch_batched.py
# Environment: BUILD (build), PYTHON (python3), OUTCOME_MAX_MISMATCH (fraction of runs whose
# outcome may differ between the backends, default 0: FMA contraction on the device can
# flip a run that sits on a basin boundary of a chaotic map), SKIP_BENCH=1.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-python3}
MAX_MISMATCH=${OUTCOME_MAX_MISMATCH:-0}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
mode=${1:-build}

build_test_gpu() {
    gcc -std=c11 -O2 -Wall -Wextra -Wshadow -Werror -Iinclude -I"$CUDA_HOME/include" tests/gpu/test_gpu.c \
        "$BUILD/obj/cu_train.o" -L"$CUDA_HOME/lib64" -lcudart_static -lstdc++ -ldl -lrt -lpthread -lm \
        -o "$BUILD/test_gpu"
}

if [ "$mode" != --prebuilt ]; then
    make -s all CUDA=1 BUILD="$BUILD" || { echo "run.sh: build failed"; exit 1; }
    [ -f "$BUILD/obj/cu_train.o" ] || { echo "run.sh: no CUDA objects in $BUILD (nvcc not on the PATH?)"; exit 1; }
    build_test_gpu || { echo "run.sh: building test_gpu failed"; exit 1; }
fi
if [ "$mode" = --bundle ]; then
    # relink with an RPATH (transitive, unlike RUNPATH) to gpu-libs beside the binary, and
    # copy there every shared library it loads but those of the C/C++ runtime and OpenMP,
    # which a machine with nvcc has in newer versions
    rm -f "$BUILD/aesweep"
    make -s all CUDA=1 BUILD="$BUILD" LDFLAGS='-fopenmp -Wl,--disable-new-dtags -Wl,-rpath,\$$ORIGIN/gpu-libs' ||
        exit 1
    rm -rf "$BUILD/gpu-libs"
    mkdir -p "$BUILD/gpu-libs"
    ldd "$BUILD/aesweep" | awk '$3 ~ /^\// {print $3}' |
        grep -Ev '/(libc|libm|libdl|librt|libpthread|libresolv|libstdc\+\+|libgcc_s|libgomp|ld-linux[^/]*)\.so' |
        xargs -r cp -L -t "$BUILD/gpu-libs/"
    echo "bundled: $BUILD/aesweep, $BUILD/test_gpu, $BUILD/gpu-libs ($(ls "$BUILD/gpu-libs" | wc -l) libraries)"
    echo "carry $BUILD to the GPU machine, then there: bash tests/gpu/run.sh --prebuilt"
    exit 0
fi

AESWEEP=$BUILD/aesweep
failures=()
step() { # step NAME COMMAND...: runs it, records a failure
    local name=$1
    shift
    echo
    echo "== $name"
    if "$@"; then echo "-- ok: $name"; else
        echo "-- FAILED: $name"
        failures+=("$name")
    fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. kernels against the CPU path
step "test_gpu" "$BUILD/test_gpu"

# 2. sweeps on both backends
sweep_pair() { # sweep_pair NAME CONFIG KERNEL [aesweep args...]
    local name=$1 cfg=$2 kernel=$3
    shift 3
    [ -f "$tmp/$name-cpu.h5" ] || "$AESWEEP" run "$cfg" -o "$tmp/$name-cpu.h5" --backend cpu --quiet "$@" || return 1
    AESWEEP_KERNEL=$kernel "$AESWEEP" run "$cfg" -o "$tmp/$name-cuda$kernel.h5" --backend cuda --quiet "$@" || return 1
    "$PYTHON" tests/gpu/compare.py --max-mismatch "$MAX_MISMATCH" "$tmp/$name-cpu.h5" "$tmp/$name-cuda$kernel.h5"
}
step "quickstart: cpu vs cuda outcomes" sweep_pair quickstart sweeps/quickstart.cfg 1
for kernel in 0 1 2; do
    step "small.cfg kernel $kernel: cpu vs cuda outcomes" sweep_pair small tests/gpu/small.cfg $kernel
    step "chaos.cfg kernel $kernel: cpu vs cuda outcomes" sweep_pair chaos tests/gpu/chaos.cfg $kernel
    step "file.cfg kernel $kernel: cpu vs cuda outcomes" \
        sweep_pair file tests/gpu/file.cfg $kernel --set "init.file=$tmp/chaos-cpu.h5"
done

# 3. sanitizers: the CUDA backend on a small sweep, few steps
sanitize() { # sanitize TOOL KERNEL
    local tool=$1 kernel=$2 log=$tmp/sanitize-$1-$2.log summary
    case $tool in memcheck) summary='ERROR SUMMARY: 0 errors' ;; racecheck) summary='RACECHECK SUMMARY: 0 hazards' ;; esac
    AESWEEP_KERNEL=$kernel compute-sanitizer --tool "$tool" --error-exitcode 99 \
        "$AESWEEP" run tests/gpu/small.cfg -o "$tmp/sanitize.h5" --backend cuda --quiet --force --set train.steps=40 \
        >"$log" 2>&1
    local rc=$?
    tail -n 3 "$log"
    [ $rc -eq 0 ] && grep -q "$summary" "$log"
}
if command -v compute-sanitizer >/dev/null; then
    for kernel in 0 1 2; do
        step "compute-sanitizer memcheck, kernel $kernel" sanitize memcheck $kernel
        step "compute-sanitizer racecheck, kernel $kernel" sanitize racecheck $kernel
    done
else
    echo "== compute-sanitizer not on the PATH"
    failures+=("compute-sanitizer missing")
fi

# 4. speed, for information
if [ "${SKIP_BENCH:-0}" != 1 ]; then
    echo
    echo "== aesweep bench (information)"
    "$AESWEEP" bench --backend cuda --kernel 0,1,2 --json "$tmp/bench.json" || failures+=("aesweep bench")
    if "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        echo
        echo "== torch baseline (information)"
        "$PYTHON" analysis/baselines/torch_batched.py --device cuda --n 7 --runs 65536 --steps 500 ||
            failures+=("torch baseline")
    fi
fi

echo
if [ ${#failures[@]} -eq 0 ]; then
    echo "run.sh: all GPU checks passed"
    exit 0
fi
echo "run.sh: ${#failures[@]} failed:"
printf '  %s\n' "${failures[@]}"
exit 1
