"""Never lose a run: sweeps killed with SIGKILL at chosen and at random points leave a
readable file that `--resume` completes bit for bit; write failures are clear errors."""
import os
import resource
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from e2e_support import AESWEEP, REPO, run_aesweep
from test_cli import assert_same_data

SWEEP = """
model = { n = 5; m = 2; };
train = { steps = 300; check_every = 50; };
grid  = ( { param = "train.lr"; logspace = [-3.0, -1.0, 10]; },
          { param = "init.seed"; range = [0, 20]; } );
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    cfg = folder / "sweep.cfg"
    cfg.write_text(SWEEP)
    run_aesweep("run", cfg, "-o", folder / "ref.h5", "--quiet")
    return cfg, folder / "ref.h5"


def check_killed_file(path, total=200):
    """A killed file opens as it is (no h5clear), and every run marked done holds its record
    (a run not marked done may hold one too: killed between a batch's records and its flags)."""
    with h5py.File(path, "r") as f:
        done = f["done"][()].astype(bool)
        loss = f["loss"][()]
        assert done.shape == (10, 20)
        assert np.isfinite(loss[done]).all()
    info = run_aesweep("info", path).stdout
    assert f"{done.sum()} / {total}" in info
    return int(done.sum())


def writes_per_batch(path):
    """A batch writes each per-run variable, then its `done` flags."""
    with h5py.File(path, "r") as f:
        return sum(1 for name, item in f.items() if isinstance(item, h5py.Dataset) and item.shape[:2] == (10, 20))


# (batch, write within the batch): the first write, one in the middle of the records, the
# `done` flags (records all on disk, not yet marked), and writes of later batches.
@pytest.mark.parametrize("batch, position", [(1, "first"), (1, "middle"), (1, "done"), (2, "first"), (3, "middle")])
def test_killed_at_a_write_resumes_to_identical_data(tmp_path, reference, batch, position):
    cfg, ref = reference
    per_batch = writes_per_batch(ref)
    fault_write = (batch - 1) * per_batch + {"first": 1, "middle": per_batch // 2, "done": per_batch}[position]
    out = tmp_path / "killed.h5"
    proc = run_aesweep("run", cfg, "-o", out, "--quiet", "--threads", "1", check=False,
                       env={"AESWEEP_FAULT_WRITE": str(fault_write)})
    assert proc.returncode == -signal.SIGKILL
    done = check_killed_file(out)
    assert done < 200 and (done == 0) == (batch == 1)
    run_aesweep("run", cfg, "-o", out, "--resume", "--quiet")
    assert_same_data(out, ref)


def test_killed_at_random_moments_resumes_to_identical_data(tmp_path, reference):
    cfg, ref = reference
    out = tmp_path / "killed.h5"
    rng = np.random.default_rng(7)
    for attempt in range(3):  # kill, resume, kill again: each time at a random moment
        proc = subprocess.Popen([str(AESWEEP), "run", str(cfg), "-o", str(out), "--quiet", "--threads", "1",
                                 *(["--resume"] if out.exists() else [])], cwd=REPO)
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if out.exists() and proc.returncode == -signal.SIGKILL:
            check_killed_file(out)
    if not out.exists():
        run_aesweep("run", cfg, "-o", out, "--quiet")
    run_aesweep("run", cfg, "-o", out, "--resume", "--quiet")
    assert_same_data(out, ref)


def test_a_file_size_limit_is_a_clear_runtime_error(tmp_path, reference):
    cfg, _ = reference
    out = tmp_path / "small.h5"

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    proc = subprocess.run([str(AESWEEP), "run", str(cfg), "-o", str(out), "--quiet"], cwd=REPO,
                          capture_output=True, text=True, preexec_fn=limit_file_size)
    assert proc.returncode == 1, proc.stderr
    assert "aesweep:" in proc.stderr and str(out) in proc.stderr


def test_info_reads_a_sweep_while_it_runs(tmp_path, write_config):
    cfg = write_config("""
model = { n = 16; };
train = { steps = 20000; };
grid  = ( { param = "init.seed"; range = [0, 4000]; } );
""")
    out = tmp_path / "running.h5"
    proc = subprocess.Popen([str(AESWEEP), "run", str(cfg), "-o", str(out), "--quiet", "--threads", "1"], cwd=REPO)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:  # until the first batch is flushed
            info = run_aesweep("info", out, check=False) if out.exists() else None
            if info and info.returncode == 0 and "done             0 /" not in info.stdout:
                break
            time.sleep(0.2)
        assert info.returncode == 0 and "/ 4000" in info.stdout and "still running" in info.stdout, info.stderr
    finally:
        proc.kill()
        proc.wait()
