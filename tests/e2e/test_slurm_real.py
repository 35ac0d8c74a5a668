"""End-to-end: sweeps/slurm_array.sh on a real single-node Slurm (Debian's slurm-wlm and
munge, started by the test on free ports; tests/e2e/slurm_node.py), not the stand-in of
test_cli.py.  The array's shards, merged by the job that waits on them (afterok), must be
the serial sweep's data bit for bit.  Where the daemons are not installed or do not come
up, the tests skip with the reason and the daemons' log tails."""
import re
import subprocess

import h5py
import numpy as np
import pytest

from e2e_support import REPO, run_aesweep
from slurm_node import SlurmNode, SlurmUnavailable

CONFIG = """
model = { n = 5; m = 2; };
init  = { scheme = "xavier_normal"; seed = 0; };
train = { optimizer = "adamw"; lr = 1e-3; steps = 200; check_every = 50; };
grid  = ( { param = "train.lr"; logspace = [-3.0, -1.0, 4]; },
          { param = "init.seed"; range = [0, 3]; } );
"""
SHARDS = 3


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """One private Slurm for this module's tests; stopped (jobs, daemons, slurmstepd) at the end."""
    node = SlurmNode(tmp_path_factory.mktemp("slurm"))
    try:
        node.start(timeout=30)
    except SlurmUnavailable as exc:
        pytest.skip(f"no private Slurm here: {exc}")
    try:
        yield node
    finally:
        node.stop()
        left = node.leftovers()
        assert not left, f"processes of the private Slurm left running: {left}"


def read_all(path):
    """Every dataset at the file's root: the run records, `done` and the coordinates."""
    with h5py.File(path, "r") as f:
        return {name: item[()] for name, item in f.items() if isinstance(item, h5py.Dataset)}


@pytest.mark.parametrize("extra", [[], ["--threads", "1"]], ids=["no_run_options", "run_options"])
def test_slurm_array_on_real_slurm_equals_serial_sweep(tmp_path, write_config, slurm, extra):
    cfg, out = write_config(CONFIG), tmp_path / "out.h5"
    # cwd tmp_path: nothing of Slurm's (slurm-%j.out) can land in the repository
    proc = subprocess.run(["bash", str(REPO / "sweeps" / "slurm_array.sh"), str(cfg), str(out), str(SHARDS),
                           *extra], cwd=tmp_path, env=slurm.env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"slurm_array.sh exited {proc.returncode}:\n{proc.stderr}\n{slurm.log_tails()}"
    found = re.search(r"submitted shards as job array (\d+) and the merge as job (\d+): (.*)$", proc.stdout.strip())
    assert found and found[3] == str(out), proc.stdout
    array, merge = found[1], found[2]
    # the wrapped task, as Slurm stored it (read now: Slurm may drop it once the job ends)
    script = slurm.run("scontrol", "write", "batch_script", f"{array}_0", "-").stdout

    jobs = slurm.wait_finished([array, merge], timeout=120)
    folder = tmp_path / "out.shards"
    logs = "\n".join(f"--- {p.name}:\n{p.read_text(errors='replace')}" for p in sorted(folder.glob("*.log")))
    tasks = jobs[array]
    summary = [(t.get("JobId"), t.get("ArrayTaskId"), t.get("JobState"), t.get("ExitCode"), t.get("Reason"))
               for t in tasks + jobs[merge]]
    assert sorted(t.get("ArrayTaskId") for t in tasks) == [str(k) for k in range(SHARDS)], summary
    for record in tasks + jobs[merge]:
        assert (record.get("JobState"), record.get("ExitCode")) == ("COMPLETED", "0:0"), \
            f"{summary}\n{logs}\n--- the task's batch script:\n{script}\n{slurm.log_tails()}"
    assert [r.get("ArrayJobId") for r in tasks] == [array] * SHARDS
    # the run options went through, and nothing (no '') where there are none
    assert f"--shard $SLURM_ARRAY_TASK_ID/{SHARDS} --resume --quiet" + "".join(f" {a}" for a in extra) + "\n" \
        in script, script
    assert "''" not in script, script
    (merge_record,) = jobs[merge]
    # afterok: the merge started only once every task had ended (ISO times: they sort as text)
    assert all(merge_record["StartTime"] >= t["EndTime"] for t in tasks), summary

    # the logs: each task ran quietly (--quiet; nothing from slurmstepd either), the merge ran `aesweep info`
    for k in range(SHARDS):
        log = folder / f"task_{k}.log"
        assert log.exists(), sorted(p.name for p in folder.iterdir())
        assert not re.search(r"error|slurmstepd|abort|denied", log.read_text(), re.I), logs
        assert (folder / f"shard_{k}.h5").exists()
    merge_log = (folder / "merge.log").read_text()
    assert str(out) in merge_log and not re.search(r"error:|slurmstepd|abort", merge_log, re.I), logs
    assert out.exists() and not (tmp_path / "out.h5.part").exists()

    serial = tmp_path / "serial.h5"
    run_aesweep("run", cfg, "-o", serial, "--quiet")
    merged, alone = read_all(out), read_all(serial)
    assert {"W_final", "outcome", "loss", "done"} <= set(merged)
    assert set(merged) == set(alone)
    assert (merged["done"] == 1).all()
    assert merged["outcome"].size == 4 * 3
    for name in merged:
        assert merged[name].dtype == alone[name].dtype and merged[name].shape == alone[name].shape, name
        assert merged[name].tobytes() == alone[name].tobytes(), name  # bit for bit, NaNs included
        assert np.array_equal(merged[name], alone[name], equal_nan=merged[name].dtype.kind == "f"), name
