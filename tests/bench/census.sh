#!/usr/bin/env bash
# census.sh - every number of README.md's "Results: outcomes" section, from one command.
#
#   bash tests/bench/census.sh [OUT_DIR] [SEEDS]      (defaults: out/census, 10000)
#
# Trains, with build/aesweep (CPU backend unless a GPU is there):
#   1. sweeps/census_n7.cfg (AdamW) at three horizons: 5 000, 10 000 and 25 000 steps
#   2. sweeps/census_n7_sgd.cfg (plain gradient descent) at 25 000 steps
#   3. sweeps/ideal_optimizers.cfg: ideal_failure, no perturbation, each optimizer
#   4. census_n7 at 25 000 steps with outcome.tilt_max = 0.1 and 0.5 side by side
# and prints `aesweep info` of each, then a table of plateaus and recoveries by kind.
# Prints the date, machine and commit first, so the output is its own record.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-out/census}
SEEDS=${2:-10000}
AESWEEP=${AESWEEP:-build/aesweep}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"

echo "date:    $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "commit:  $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src include kernels sweeps || echo -dirty)"
echo "command: bash tests/bench/census.sh $OUT $SEEDS"

# the shipped sweeps with SEEDS seeds (a copy in OUT, so the command line stays short)
with_seeds() { sed "s/range = \[0, 10000\]/range = [0, $SEEDS]/" "$1" > "$OUT/$(basename "$1")"; echo "$OUT/$(basename "$1")"; }
run() { # run NAME CONFIG [--set ...]
    local name=$1 cfg=$2
    shift 2
    "$AESWEEP" run "$cfg" -o "$OUT/$name.h5" --force --quiet "$@"
    echo
    echo "===== $name: $cfg $*"
    "$AESWEEP" info "$OUT/$name.h5" | sed -n '/^grid/,$p'
}

adamw=$(with_seeds sweeps/census_n7.cfg)
for steps in 5000 10000 25000; do
    run "adamw_$steps" "$adamw" --set "train.steps=$steps"
done
run sgd_25000 "$(with_seeds sweeps/census_n7_sgd.cfg)"
run ideal_optimizers sweeps/ideal_optimizers.cfg
sed 's/^grid  = ( /grid  = ( { param = "outcome.tilt_max"; values = [0.1, 0.5]; },\n          /' "$adamw" \
    > "$OUT/census_n7_tilt.cfg"
run adamw_25000_tilt "$OUT/census_n7_tilt.cfg"

echo
echo "===== plateaus and recoveries (runs with a plateau >= train.plateau_steps, by its kind)"
"$PYTHON" - "$OUT" <<'EOF'
import sys
import h5py
import numpy as np

for name in ["adamw_5000", "adamw_10000", "adamw_25000", "sgd_25000"]:
    with h5py.File(f"{sys.argv[1]}/{name}.h5", "r") as f:
        kind, recovered = f["plateau_kind"][()], f["recovered"][()]
        outcome, done = f["outcome"][()], f["done"][()].astype(bool)
        names = f["plateau_kind"].attrs["flag_meanings"].split()
        length = f["plateau_length"][()]
        print(f"{name}: {done.sum()} runs")
        for code, label in enumerate(names[1:], start=1):
            on = done & (kind == code)
            still = np.bincount(outcome[on], minlength=7)
            print(f"  {label:18s} plateaus {on.sum():5d}  recovered {int(recovered[on].sum()):5d}  "
                  f"median length {np.median(length[on]) if on.any() else float('nan'):7.0f} steps  "
                  f"ends: " + ", ".join(f"{n} {c}" for n, c in zip(f['outcome'].attrs['flag_meanings'].split(), still) if c))
EOF
