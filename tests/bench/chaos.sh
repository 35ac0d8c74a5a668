#!/usr/bin/env bash
# chaos.sh - the numbers of README.md's chaos results (issue 12), from one command.
#
#   bash tests/bench/chaos.sh [OUT_DIR]      (default: out/chaos)
#
# Trains, with build/aesweep (CPU backend unless a GPU is there), about 2.8e9 model-steps
# (0.8e9 of them in float64; the float32 SGD map alone took 400 s on the shared 2-core VM):
#   1. sweeps/chaos_sgd.cfg and sweeps/chaos_adamw.cfg: the maps from the symmetric
#      failure, in float32 and float64 (model.precision)
#   2. sweeps/uncertainty.cfg: setting twins over delta, the uncertainty exponent per region
#   3. the resampling comparison with `gap`: AdamW census failures, and SGD symmetric failures
# and prints `aesweep info` and the analysis of each. Prints the date, machine and commit
# first, so the output is its own record. Needs model.precision, twin.param,
# twin.renorm_every and intervene.method = "gap" (DESIGN.md v2 sections 1 and 4).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-out/chaos}
AESWEEP=${AESWEEP:-build/aesweep}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"

echo "date:    $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "commit:  $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src include kernels sweeps analysis || echo -dirty)"
echo "command: bash tests/bench/chaos.sh $OUT"

run() { # run NAME CONFIG [--set ...]: train, then print its census
    local name=$1 cfg=$2
    shift 2
    local start=$SECONDS
    "$AESWEEP" run "$cfg" -o "$OUT/$name.h5" --force --quiet "$@"
    echo
    echo "===== $name: $cfg $* ($((SECONDS - start)) s)"
    "$AESWEEP" info "$OUT/$name.h5" | sed -n '/^model-steps/p;/^grid/,/^by /p'
}
stats() { # stats NAME [chaos_stats options]
    local name=$1
    shift
    echo "----- python3 -m aesweep.chaos_stats $OUT/$name.h5 $*"
    "$PYTHON" -m aesweep.chaos_stats "$OUT/$name.h5" -o "$OUT/${name}_stats.png" "$@"
}

# 1. the maps, float32 and float64
for precision in float32 float64; do
    run "chaos_sgd_$precision" sweeps/chaos_sgd.cfg --set "model.precision=\"$precision\""
    "$PYTHON" -m aesweep.chaos_map "$OUT/chaos_sgd_$precision.h5" --var recovery_step --panel outcome \
        -o "$OUT/chaos_sgd_$precision.png"
    stats "chaos_sgd_$precision" --split recovered
    run "chaos_adamw_$precision" sweeps/chaos_adamw.cfg --set "model.precision=\"$precision\""
    "$PYTHON" -m aesweep.chaos_map "$OUT/chaos_adamw_$precision.h5" --var first_perfect_step --panel outcome \
        -o "$OUT/chaos_adamw_$precision.png"
    stats "chaos_adamw_$precision"
done
echo
echo "===== speckle above lr 0.05 (AdamW) and 2.0 (SGD): share of neighbouring cells along lr that differ in outcome"
"$PYTHON" - "$OUT" <<'PY'
import sys
import h5py
import numpy as np

for name, cut in [("chaos_adamw", 0.05), ("chaos_sgd", 2.0)]:
    for precision in ("float32", "float64"):
        with h5py.File(f"{sys.argv[1]}/{name}_{precision}.h5", "r") as f:
            o, lr = f["outcome"][()], f["lr"][()]  # (lr, bias_delta)
        pairs = o[1:] != o[:-1]
        hi = (lr[1:] >= cut) & (lr[:-1] >= cut)
        print(f"  {name} {precision}: lr >= {cut}: {pairs[hi].mean():.3f} of {pairs[hi].size} pairs; "
              f"below: {pairs[~hi].mean():.3f}; perfect {np.mean(o == 0):.3f}")
PY

# 2. the uncertainty exponent (setting twins over delta), both splits
run uncertainty sweeps/uncertainty.cfg
stats uncertainty
stats uncertainty --split recovered

# 3. resampling with gap: AdamW census failures, then SGD symmetric failures
run census_n7 sweeps/census_n7.cfg
run resample_adamw sweeps/resample_compare.cfg --set "init.file=\"$OUT/census_n7.h5\""
"$PYTHON" -m aesweep.resample_compare "$OUT/resample_adamw.h5" -o "$OUT/resample_adamw.png"
run census_n7_sgd_bases sweeps/census_n7_sgd_bases.cfg
run resample_sgd sweeps/resample_compare_sgd.cfg --set "init.file=\"$OUT/census_n7_sgd_bases.h5\""
"$PYTHON" -m aesweep.resample_compare "$OUT/resample_sgd.h5" -o "$OUT/resample_sgd.png"
