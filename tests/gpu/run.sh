#!/usr/bin/env bash
# run.sh - the GPU checks of aesweep's CUDA backend (make test-gpu; needs an NVIDIA GPU).
#
#   bash tests/gpu/run.sh              build (make, nvcc on the PATH), then check
#   bash tests/gpu/run.sh --prebuilt   check with the binaries built before, as they are:
#                                      BUILD=build/gpu-bundle on a machine without the
#                                      libconfig/HDF5 packages (make gpu-bundle; session.sh)
#
# Two builds: $BUILD (the real one: nvcc contracts a*b+c into FMAs) and $BUILD/nofma
# (kernels built with -fmad=false, whose float math is then the CPU's, operation for
# operation).  Checks, each reported, all run even when one fails; exit 1 if any failed:
#   1. $BUILD/test_gpu: init bits, 2 000-step AdamW against the CPU, divergence (test_gpu.c)
#   2. sweeps through $BUILD/aesweep on both backends, outcomes compared with h5py
#      (compare.py): tests/gpu/small.cfg run for run; sweeps/quickstart.cfg and
#      tests/gpu/{chaos,file,intervene,twin,warp,warp64}.cfg, chaotic maps where an FMA can move a run on
#      a basin boundary, by outcome fractions (and the runs that differ are listed)
#   3. the same sweeps through $BUILD/nofma/aesweep, under each kernel variant: every
#      dataset of the output identical to the CPU backend's (min_gap within 1e-6: acosf)
#   4. compute-sanitizer memcheck and racecheck on a small sweep, each kernel variant; where
#      the runtime refuses the sanitizer (e.g. "Device not supported" under gVisor) the
#      check is reported as refused, not failed
#   5. for information: aesweep bench (n = 7, 16, 64, every variant) and, if torch sees
#      the GPU, analysis/baselines/torch_batched.py
# Environment: BUILD (build), PYTHON (python3), OUTCOME_MAX_MISMATCH (fraction of small.cfg's
# runs whose outcome may differ, default 0), PARTS (the parts to run, default "1 2 3 4 5"),
# SKIP_BENCH=1 (leaves out part 5).
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
NOFMA=$BUILD/nofma
PYTHON=${PYTHON:-python3}
MAX_MISMATCH=${OUTCOME_MAX_MISMATCH:-0}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
GENCODE="-gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90"
mode=${1:-build}

PARTS=${PARTS:-1 2 3 4 5}
[ "${SKIP_BENCH:-0}" = 1 ] && PARTS=${PARTS//5/}
part() { [[ " $PARTS " == *" $1 "* ]]; }
case $mode in
build)
    make -s all CUDA=1 BUILD="$BUILD" "$BUILD/test_gpu" &&
        make -s all CUDA=1 BUILD="$NOFMA" NVCCFLAGS="-O3 -std=c++17 -Iinclude -Xcompiler -Wall,-Wextra -fmad=false $GENCODE" ||
        { echo "run.sh: build failed"; exit 1; }
    [ -f "$BUILD/obj/cu_train.o" ] || { echo "run.sh: no CUDA objects in $BUILD (nvcc not on the PATH?)"; exit 1; }
    ;;
--prebuilt) ;;
*) echo "run.sh: unknown mode $mode (build, --prebuilt; a bundle for a bare machine: make gpu-bundle)"; exit 2 ;;
esac

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
part 1 && step "test_gpu" "$BUILD/test_gpu"

# 2, 3. sweeps on both backends
sweep_pair() { # sweep_pair BINARY TAG CONFIG KERNEL COMPARE-ARGS -- [aesweep args...]
    local bin=$1 tag=$2 cfg=$3 kernel=$4 compare=()
    shift 4
    while [ "$1" != -- ]; do compare+=("$1"); shift; done
    shift
    local name
    name=$(basename "$cfg" .cfg)
    [ -f "$tmp/$tag-$name-cpu.h5" ] ||
        "$bin" run "$cfg" -o "$tmp/$tag-$name-cpu.h5" --backend cpu --quiet "$@" || return 1
    "$bin" run "$cfg" -o "$tmp/$tag-$name-cuda$kernel.h5" --backend cuda --kernel "$kernel" --quiet "$@" ||
        return 1
    "$PYTHON" tests/gpu/compare.py "${compare[@]}" "$tmp/$tag-$name-cpu.h5" "$tmp/$tag-$name-cuda$kernel.h5"
}
chaos_base() { echo "--set init.file=$tmp/$1-chaos-cpu.h5"; }
part 2 && step "small.cfg: each run's outcome equal" \
    sweep_pair "$BUILD/aesweep" fma tests/gpu/small.cfg 1 --max-mismatch "$MAX_MISMATCH" --
part 2 && for cfg in sweeps/quickstart.cfg tests/gpu/chaos.cfg tests/gpu/file.cfg tests/gpu/intervene.cfg tests/gpu/twin.cfg \
    tests/gpu/warp.cfg tests/gpu/warp64.cfg; do
    # shellcheck disable=SC2046
    step "$(basename "$cfg"): outcome fractions equal" \
        sweep_pair "$BUILD/aesweep" fma "$cfg" 1 --stat -- $([ "$cfg" = tests/gpu/file.cfg ] && chaos_base fma)
done
part 3 && for kernel in 0 1 2 3; do
    for cfg in tests/gpu/small.cfg sweeps/quickstart.cfg tests/gpu/chaos.cfg tests/gpu/file.cfg \
        tests/gpu/intervene.cfg tests/gpu/twin.cfg tests/gpu/warp.cfg tests/gpu/warp64.cfg; do
        # shellcheck disable=SC2046
        step "-fmad=false, kernel $kernel, $(basename "$cfg"): every dataset identical to the CPU's" \
            sweep_pair "$NOFMA/aesweep" nofma "$cfg" $kernel --exact -- \
            $([ "$cfg" = tests/gpu/file.cfg ] && chaos_base nofma)
    done
done

# 4. sanitizers: the CUDA backend on a small sweep, few steps
refused=()
sanitize() { # sanitize TOOL KERNEL
    local tool=$1 kernel=$2 log=$tmp/sanitize-$1-$2.log summary
    case $tool in memcheck) summary='ERROR SUMMARY: 0 errors' ;; racecheck) summary='RACECHECK SUMMARY: 0 hazards' ;; esac
    compute-sanitizer --tool "$tool" --error-exitcode 99 \
        "$BUILD/aesweep" run tests/gpu/small.cfg -o "$tmp/sanitize.h5" --backend cuda --kernel "$kernel" --quiet --force \
        --set train.steps=40 >"$log" 2>&1
    local rc=$?
    tail -n 3 "$log"
    [ $rc -eq 0 ] && grep -q "$summary" "$log" && return 0
    # the sanitizer itself refused this runtime or device (seen under gVisor): no verdict
    if grep -Eq 'Device not supported|Unable to find injection library|is not supported on this platform|Target application terminated before first instrumented API call' "$log"; then
        echo "-- refused by the runtime, not counted: compute-sanitizer $tool, kernel $kernel"
        refused+=("compute-sanitizer $tool, kernel $kernel")
        return 0
    fi
    return 1
}
if ! part 4; then
    :
elif command -v compute-sanitizer >/dev/null; then
    for kernel in 0 1 2; do
        step "compute-sanitizer memcheck, kernel $kernel" sanitize memcheck $kernel
        step "compute-sanitizer racecheck, kernel $kernel" sanitize racecheck $kernel
    done
else
    echo
    echo "== compute-sanitizer is not on the PATH"
    failures+=("compute-sanitizer missing")
fi

# 5. speed, for information
if part 5; then
    echo
    echo "== aesweep bench (information)"
    "$BUILD/aesweep" bench --backend cuda --kernel 0,1,2 || failures+=("aesweep bench")
    if "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        echo
        echo "== torch baseline (information)"
        "$PYTHON" analysis/baselines/torch_batched.py --device cuda --n 7 --runs 65536 --steps 500 ||
            failures+=("torch baseline")
    fi
fi

echo
[ ${#refused[@]} -eq 0 ] || { echo "run.sh: refused by the runtime (no verdict):"; printf '  %s\n' "${refused[@]}"; }
if [ ${#failures[@]} -eq 0 ]; then
    echo "run.sh: all GPU checks passed"
    exit 0
fi
echo "run.sh: ${#failures[@]} failed:"
printf '  %s\n' "${failures[@]}"
exit 1
