#!/usr/bin/env bash
# Run one sweep on a Slurm cluster: a job array with one shard per task, then a merge
# job that starts when every task has succeeded (--dependency=afterok).
#
#   sweeps/slurm_array.sh CONFIG OUT.h5 SHARDS [aesweep run options...]
#   sweeps/slurm_array.sh sweeps/chaos_n7.cfg out/chaos_n7.h5 16 --backend cuda
#
# Shards go to OUT.shards/shard_K.h5.  Every task runs with --resume, which starts a
# shard that is not there yet, so a task that is requeued or rerun completes its shard
# instead of starting over.  The merge builds OUT.part and renames it over OUT only when
# it succeeds (--force lets a rerun replace an earlier merge; a failed merge leaves it).
# Options for sbatch (partition, time, GPUs) come from $SBATCH_OPTIONS,
# e.g. SBATCH_OPTIONS="--partition=gpu --gres=gpu:1 --time=2:00:00".
# $AESWEEP names the binary (default: build/aesweep beside this script).
set -euo pipefail
if [ $# -lt 3 ]; then
    sed -n '2,14p' "$0" >&2
    exit 2
fi
config=$1 out=$2 shards=$3
shift 3
case $shards in '' | *[!0-9]* | 0) echo "slurm_array.sh: SHARDS must be a whole number >= 1" >&2; exit 2 ;; esac
aesweep=${AESWEEP:-$(cd "$(dirname "$0")/.." && pwd)/build/aesweep}
folder=${out%.h5}.shards
mkdir -p "$folder"
extra=""  # printf of no arguments would still print one: ''
if [ $# -gt 0 ]; then extra=$(printf ' %q' "$@"); fi
q() { printf '%q' "$1"; }

task="$(q "$aesweep") run $(q "$config") -o $(q "$folder")/shard_\$SLURM_ARRAY_TASK_ID.h5 \
--shard \$SLURM_ARRAY_TASK_ID/$shards --resume --quiet$extra"
array=$(sbatch --parsable ${SBATCH_OPTIONS:-} --job-name=aesweep --array=0-$((shards - 1)) \
    --output="$folder/task_%a.log" --wrap "$task")
array=${array%%;*}
merge=$(sbatch --parsable --job-name=aesweep-merge --dependency=afterok:"$array" \
    --output="$folder/merge.log" \
    --wrap "$(q "$aesweep") merge --force $(q "$out") $(q "$folder")/shard_*.h5 && $(q "$aesweep") info $(q "$out")")
echo "submitted shards as job array $array and the merge as job ${merge%%;*}: $out"
