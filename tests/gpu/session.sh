#!/usr/bin/env bash
# session.sh - the whole GPU session in one command, from a bundle built elsewhere
# (make gpu-bundle), with nothing built here: correctness against the CPU, the
# sanitizers, `aesweep bench`, the PyTorch and JAX baselines, the 4096 x 4096 map and an
# ncu look at issue efficiency (make gpu-session; tests/gpu/README.md).
#
#   bash tests/gpu/session.sh [--dry-run] [--bundle DIR] [--out DIR] [--budget SECONDS]
#                             [--only STEP,...] [--skip STEP,...]
#
#   --dry-run  no GPU: every step that can runs on the CPU at tiny sizes (bench and the
#              map on the CPU backend, the baselines on the CPU where torch/jax are
#              installed); the others say why they are skipped.  make test runs this.
#   --bundle   the folder of make gpu-bundle (default build/gpu-bundle; --dry-run: build)
#   --out      the results folder (default $OUT when set, else build/gpu-session/DATE)
#   --budget   seconds for the whole session (default 1500): each step runs under its
#              own timeout, cut to what is left, and a step with under 20 s left is
#              skipped, so one hang cannot eat the session
#   --only, --skip  steps by name: info test_gpu bench (bench_large, bench_variants too) map
#              torch jax ncu sanitize sweeps
#
# The results folder gets 4 files (the device tool brings back 8): summary.md
# (the tables for tests/bench/RESULTS.md: date, device, commit, the command of every
# number), results.json (every step's status, time, command and parsed numbers),
# session.log (every step's output) and logs.tar.gz (the raw logs and JSON).
# Exit status: 0 when no step failed (skipped and refused steps are not failures), 1
# otherwise.  Step outcomes: ok, FAILED, TIMEOUT, skipped (with why), refused (the
# runtime refused a tool, e.g. compute-sanitizer or ncu without counter access).
set -uo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
args="$*"
dry=0 bundle="" out=${OUT:-} budget=1500 only="" skip=""
while [ $# -gt 0 ]; do
    case $1 in
    --dry-run) dry=1 ;;
    --bundle) bundle=$2; shift ;;
    --out) out=$2; shift ;;
    --budget) budget=$2; shift ;;
    --only) only=$2; shift ;;
    --skip) skip=$2; shift ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "session.sh: unknown argument $1 (--help lists them)" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$bundle" ] || bundle=$([ $dry = 1 ] && echo build || echo build/gpu-bundle)
if [ -z "$out" ]; then # a folder of its own, also for sessions started in the same second
    mkdir -p build/gpu-session
    out=$(mktemp -d "build/gpu-session/$(date -u +%Y%m%d-%H%M%S)-XXXX")
fi
AESWEEP=$bundle/aesweep
if [ ! -x "$AESWEEP" ]; then
    echo "session.sh: no $AESWEEP: run make gpu-bundle on a development machine and carry $bundle along" >&2
    exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
# the scratch folder lives inside this session's results folder, not in a /tmp that other
# jobs share and clean: only this script removes it, at its end
work=$(mktemp -d "$out/work.XXXXXX")
trap '[ "$BASHPID" = "$$" ] && rm -rf "$work"' EXIT # not in subshells, which may run it too
mkdir -p "$work/logs"
backend=$([ $dry = 1 ] && echo cpu || echo cuda)
start_all=$(date +%s)
echo -e "step\tstatus\tseconds\tcommand\tnote" >"$work/steps.tsv"

# ---- the step runner -------------------------------------------------------------------

listed() { [[ ",$1," == *",$2,"* || ",$1," == *",${2%%_*},"* ]]; } # bench stands for bench_*
wanted() { # wanted NAME: selected by --only/--skip
    { [ -z "$only" ] || listed "$only" "$1"; } && ! listed "$skip" "$1"
}

# step NAME TIMEOUT COMMAND...: runs COMMAND (a shell function or program) with its output
# in logs/NAME.log under min(TIMEOUT, what is left of the budget).  Exit 77 from the
# command means skipped and 78 refused; its last output line is then the reason.
step() {
    local name=$1 limit=$2
    shift 2
    wanted "$name" || return 0
    local left=$((budget - ($(date +%s) - start_all) - 10)) log=$work/logs/$name.log status note=""
    [ "$limit" -le "$left" ] || limit=$left
    echo "== $name (timeout ${limit}s): $*"
    if [ "$limit" -lt 20 ]; then
        status=skipped note="out of budget ($budget s)"
        echo "$note" >"$log"
    else
        local t0 rc
        t0=$(date +%s.%N)
        # (subshells drop the EXIT trap that removes $work: it is the session's alone)
        ( trap - EXIT; "$@" ) >"$log" 2>&1 &
        local pid=$!
        # the watchdog kills the step's whole process group, sanitizers and profilers too
        ( trap - EXIT; sleep "$limit" && kill -TERM -- "-$pid" 2>/dev/null; sleep 10; kill -KILL -- "-$pid" 2>/dev/null ) &
        local dog=$!
        wait "$pid"
        rc=$?
        kill -- "-$dog" 2>/dev/null
        wait "$dog" 2>/dev/null
        local seconds
        seconds=$(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $t0 }")
        case $rc in
        0) status=ok ;;
        77) status=skipped note=$(tail -n 1 "$log") ;;
        78) status=refused note=$(tail -n 1 "$log") ;;
        143 | 137) status=TIMEOUT note="killed after ${limit}s" ;;
        *) status=FAILED note="exit $rc" ;;
        esac
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "${seconds:-0}" "$*" "$note" >>"$work/steps.tsv"
    echo "-- $status${note:+: $note} (${seconds:-0} s)"
    tail -n 15 "$log" | sed 's/^/   /'
}
set -m # background jobs in their own process groups, so the watchdog's kill reaches them all

# ---- the steps --------------------------------------------------------------------------

info() {
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit: $(cat "$bundle/COMMIT" 2>/dev/null || git describe --always --dirty 2>/dev/null || echo unknown)"
    echo "host: $(uname -srm), $(nproc) CPUs"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.sm --format=csv 2>&1 || true
    nvcc --version 2>&1 | tail -n 1 || true
    "$PYTHON" - <<'EOF' || true
import importlib
for name in ("torch", "jax", "h5py", "numpy"):
    try:
        print("%s %s" % (name, importlib.import_module(name).__version__))
    except Exception as exc:
        print("%s: not importable (%s)" % (name, exc))
EOF
    "$AESWEEP" --version
}

needs_gpu() { # the reason a step is skipped in a dry run
    echo "needs $1"
    return 77
}

has_option() { "$AESWEEP" "$1" --help 2>&1 | grep -q -- "$2"; }

bench() { # bench TAG aesweep-bench-args...: one aesweep bench, JSON to bench-TAG.json
    local tag=$1
    shift
    local extra=()
    # both precisions where the binary has model.precision (DESIGN section 1)
    has_option bench --precision && extra+=(--precision float32,float64)
    echo "command: $AESWEEP bench --backend $backend $* ${extra[*]}"
    "$AESWEEP" bench --backend $backend "$@" "${extra[@]}" --json "$work/bench-$tag.json"
}

python_has() { # python_has MODULE...: else skip the step with a line that says so
    "$PYTHON" -c "import $(IFS=,; echo "$*")" 2>/dev/null && return 0
    echo "python3 cannot import $*"
    return 77
}

run_python() { # run_python MODULE TAG SCRIPT ARGS...: JSON to TAG.json
    local module=$1 tag=$2
    shift 2
    python_has "$module" || return 77
    echo "command: python3 $*"
    "$PYTHON" "$@" --json "$work/$tag.json"
}
# PyTorch at >= 1 M runs: eager (torch.optim.AdamW) and the whole step compiled and
# replayed as a CUDA graph with per-run learning rates; JAX: vmap over runs of a jitted
# lax.scan over steps, per-run learning rates.  A dry run: 64 runs, no compiling.
torch_baseline() {
    if [ $dry = 1 ]; then
        run_python torch torch analysis/baselines/torch_batched.py --device cpu --n 7 --runs 64 --steps 4 --warmup 1 \
            --modes eager,graph --no-compile
    else
        run_python torch torch analysis/baselines/torch_batched.py --device cuda --n 7 --runs 1048576 --steps 200 \
            --warmup 5 --modes eager,graph
    fi
}
jax_baseline() {
    if [ $dry = 1 ]; then
        JAX_PLATFORMS=cpu run_python jax jax analysis/baselines/jax_batched.py --n 7 --runs 64 --steps 4
    else
        run_python jax jax analysis/baselines/jax_batched.py --n 7 --runs 1048576 --steps 1000
    fi
}

# The 4096 x 4096 x 10 000-step map (tests/gpu/map4096.cfg), timed with its HDF5 write;
# the file goes to scratch space (it is GBs), its timing and size to map.json.
map_run() {
    local cfg=tests/gpu/map4096.cfg sets=()
    [ $dry = 1 ] && cfg=sweeps/quickstart.cfg sets=(--set train.steps=100)
    local file=$work/map.h5 t0 t1
    t0=$(date +%s.%N)
    echo "command: $AESWEEP run $cfg -o MAP.h5 --backend $backend --force --quiet ${sets[*]}"
    "$AESWEEP" run "$cfg" -o "$file" --backend $backend --force --quiet "${sets[@]}" || return 1
    t1=$(date +%s.%N)
    "$PYTHON" - "$file" "$(awk "BEGIN { print $t1 - $t0 }")" "$cfg ${sets[*]}" "$work/map.json" <<'EOF'
import json, os, sys
import h5py
import numpy as np
path, seconds, cfg, out = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
with h5py.File(path, "r") as f:
    outcome = f["outcome"][...]
    attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()
             if k in ("model_steps_per_second", "runs_done", "wall_seconds")}
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
runs = int(outcome.size)
result = {"config": cfg, "runs": runs, "seconds_with_write": seconds, "file_bytes": os.path.getsize(path),
          "outcome_counts": {str(k): int(c) for k, c in zip(*np.unique(outcome, return_counts=True))},
          "attrs": attrs}
json.dump(result, open(out, "w"), indent=2)
print(json.dumps(result))
EOF
    rm -f "$file"
}

# ncu: issue efficiency of the training kernels at n = 7 and 64 (the bench's warm-up and
# timed launches); refused, not failed, where ncu is missing or cannot read counters.
NCU_METRICS=gpu__time_duration.sum,smsp__inst_executed.sum,smsp__issue_active.avg.pct_of_peak_sustained_active,\
sm__warps_active.avg.pct_of_peak_sustained_active,smsp__thread_inst_executed_per_inst_executed.ratio,\
launch__registers_per_thread,launch__occupancy_limit_registers,launch__block_size,launch__grid_size,\
sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active
ncu_look() {
    if ! command -v ncu >/dev/null; then echo "ncu is not on the PATH"; return 78; fi
    local app=("$AESWEEP" bench --backend cuda --n 7,64 --runs 131072 --steps 500) rc
    local cmd=(ncu --clock-control none --kernel-name regex:train_ --launch-count 4 --csv --log-file "$work/ncu.csv")
    echo "command: ${cmd[*]} --metrics $NCU_METRICS ${app[*]}"
    "${cmd[@]}" --metrics "$NCU_METRICS" "${app[@]}" >"$work/ncu-app.log" 2>&1
    rc=$?
    if [ $rc != 0 ] && grep -qi 'metric' "$work/ncu.csv" "$work/ncu-app.log"; then
        # a metric name this ncu does not know: its standard sections say the same
        echo "ncu refused a metric name; again with sections: $(grep -i metric "$work/ncu.csv" | head -n 2)"
        "${cmd[@]}" --section LaunchStats --section Occupancy --section SchedulerStats "${app[@]}" \
            >"$work/ncu-app.log" 2>&1
        rc=$?
    fi
    if grep -Eqi 'ERR_NVGPUCTRPERM|LibraryNotLoaded|Failed to initialize the profiler|not supported' \
        "$work/ncu.csv" "$work/ncu-app.log"; then
        grep -h '^==' "$work/ncu.csv" "$work/ncu-app.log" | head -n 5
        echo "ncu could not read the counters on this machine (its message is above)"
        return 78
    fi
    grep -v '^==' "$work/ncu.csv" | head -n 60
    grep -q '"ID"' "$work/ncu.csv" || { echo "ncu wrote no metrics (exit $rc)"; return 1; }
    return $rc
}

# run.sh's checks against the CPU, on the bundle's binaries (PARTS: its numbered parts)
run_checks() {
    echo "command: BUILD=$bundle PARTS='$1' bash tests/gpu/run.sh --prebuilt"
    BUILD=$bundle PARTS=$1 bash tests/gpu/run.sh --prebuilt
}

gpu_step() { # gpu_step NAME TIMEOUT WHAT-IT-NEEDS -- COMMAND...: skipped in a dry run
    local name=$1 limit=$2 why=$3
    shift 4
    if [ $dry = 1 ]; then step "$name" "$limit" needs_gpu "$why"; else step "$name" "$limit" "$@"; fi
}
# smaller runs and steps in a dry run
if [ $dry = 1 ]; then small=(--runs 64 --steps 50); large=(--runs 16 --steps 5); variants=(); else
    small=(--steps 10000) large=(--steps 500) variants=(--kernel 0,1,2,3 --steps 1000)
fi

step info 60 info
gpu_step test_gpu 300 "a GPU (make test-gpu-emu runs it on the emulated device)" -- "$bundle/test_gpu"
step bench 240 bench small --n 7,16 "${small[@]}"
step bench_large 240 bench large --n 64,256 "${large[@]}"
[ ${#variants[@]} -gt 0 ] && step bench_variants 240 bench variants --n 7,16,64 "${variants[@]}"
step map 300 map_run
step torch 360 torch_baseline
step jax 240 jax_baseline
gpu_step ncu 240 "a GPU and ncu" -- ncu_look
gpu_step sanitize 360 "a GPU and compute-sanitizer" -- run_checks 4
gpu_step sweeps 480 "a GPU (make test-gpu-emu runs the sweeps emulated, bit for bit)" -- run_checks "2 3"

# ---- results ----------------------------------------------------------------------------
for log in "$work"/logs/*.log; do
    echo "######## $(basename "$log" .log)"
    cat "$log"
done >"$out/session.log"
failed=0
if [ ! -s "$work/steps.tsv" ]; then
    echo "session.sh: its step table $work/steps.tsv is gone: the session cannot say what ran" >&2
    failed=1
fi
"$PYTHON" tests/gpu/session_summary.py "$work" "$out" "$([ $dry = 1 ] && echo dry-run || echo gpu)" \
    "bash tests/gpu/session.sh $args" "$bundle" || { echo "session.sh: the summary failed" >&2; failed=1; }
tar -C "$work" -czf "$out/logs.tar.gz" --exclude=map.h5 . || failed=1
echo
cat "$out/summary.md" || failed=1
echo
echo "results: $out ($(ls "$out" | grep -v '^work\.' | tr '\n' ' '))"
if grep -Eq $'\t(FAILED|TIMEOUT)\t' "$work/steps.tsv" 2>/dev/null; then failed=1; fi
exit $failed
