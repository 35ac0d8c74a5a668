#!/usr/bin/env bash
# emulate.sh - runs the CUDA kernels and the CUDA backend on the CPU, no GPU needed:
# kernels/*.cu compiled as C++ (tests/gpu/emu/nvcc-emu), the CUDA runtime replaced by a
# host stand-in (tests/gpu/emu/runtime.cpp).  It checks the kernels' logic (dispatch,
# strides, per-run outputs, chunking, and the warp kernel's barriers, shuffles and votes:
# a block's threads run concurrently as fibers), not the GPU's arithmetic: without FMA
# contraction the emulated backend must equal the CPU backend bit for bit.
#   1. tests/gpu/test_gpu.c against the emulation: every check must pass
#   2. the sweeps tests/gpu/{small,chaos,file,intervene,twin,twin_setting,gap,precision,warp,warp64}.cfg through build/emu/aesweep,
#      --backend cpu and cuda (each kernel variant), with the emulated device's memory set
#      small so that the backend splits batches into chunks: every dataset of the two
#      output files must be identical
#   3. optstate.cfg's states continued by keep.cfg (sgd with momentum, adam, adamw; both
#      precisions; t0 = 0, 120, 170 side by side) on both backends: identical, moments too
set -euo pipefail
cd "$(dirname "$0")/../.."
EMU=${EMU_BUILD:-build/emu}
PYTHON=${PYTHON:-python3}
mkdir -p "$EMU/cuda/include" "$EMU/cuda/lib64"
EMU=$(cd "$EMU" && pwd)
cp tests/gpu/emu/cuda_runtime.h tests/gpu/emu/cuda_runtime_api.h "$EMU/cuda/include/"
# shellcheck disable=SC2086  # EMU_CXXFLAGS: words, as nvcc-emu splits them
g++ -std=c++17 -O2 ${EMU_CXXFLAGS:-} -Wall -Wextra -Wno-unused-parameter -I"$EMU/cuda/include" -c tests/gpu/emu/runtime.cpp \
    -o "$EMU/runtime.o"
ar rcs "$EMU/cuda/lib64/libcudart_static.a" "$EMU/runtime.o"
make -s BUILD="$EMU" CUDA=1 CUDA_HOME="$EMU/cuda" NVCC="$PWD/tests/gpu/emu/nvcc-emu" "$EMU/aesweep" "$EMU/test_gpu"

echo "== test_gpu on the emulated device"
"$EMU/test_gpu"

echo "== sweeps: cpu backend vs emulated cuda backend (every variable identical)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for name in small chaos file intervene twin twin_setting gap precision warp warp64; do
    set_file=()
    [ "$name" = file ] && set_file=(--set "init.file=$tmp/chaos-cpu.h5")
    "$EMU/aesweep" run "tests/gpu/$name.cfg" -o "$tmp/$name-cpu.h5" --backend cpu --quiet "${set_file[@]}"
    for kernel in 0 1 2 3; do
        AEK_EMU_FREE_BYTES=48000 "$EMU/aesweep" run "tests/gpu/$name.cfg" \
            -o "$tmp/$name-cuda$kernel.h5" --backend cuda --kernel "$kernel" --quiet "${set_file[@]}"
        "$PYTHON" tests/gpu/compare.py --exact --close min_gap=0 "$tmp/$name-cpu.h5" "$tmp/$name-cuda$kernel.h5"
    done
done
echo "== the optimizer state continued (init.optimizer_state = \"keep\"): cpu vs emulated cuda"
for optimizer in sgd adam adamw; do
    opt=(--set "train.optimizer=\"$optimizer\"")
    "$EMU/aesweep" run tests/gpu/optstate.cfg -o "$tmp/optstate-$optimizer.h5" --backend cpu --quiet "${opt[@]}"
    keep=("${opt[@]}" --set "init.file=$tmp/optstate-$optimizer.h5")
    "$EMU/aesweep" run tests/gpu/keep.cfg -o "$tmp/keep-$optimizer-cpu.h5" --backend cpu --quiet "${keep[@]}"
    for kernel in 0 1 2 3; do
        AEK_EMU_FREE_BYTES=48000 "$EMU/aesweep" run tests/gpu/keep.cfg -o "$tmp/keep-$optimizer-cuda$kernel.h5" \
            --backend cuda --kernel "$kernel" --quiet "${keep[@]}"
        "$PYTHON" tests/gpu/compare.py --exact --close min_gap=0 "$tmp/keep-$optimizer-cpu.h5" \
            "$tmp/keep-$optimizer-cuda$kernel.h5"
    done
done
echo "emulation: all checks passed"
