"""Never lose a run: sweeps killed with SIGKILL at chosen and at random points leave a
readable file that `--resume` completes bit for bit; write failures are clear errors."""
import os
import resource
import shutil
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


FAULT_INJECT = REPO / "build" / "fault_inject.so"

# 20 runs with --threads 1: a first batch of 16 (the smallest batch) and a second of 4, so
# the life below has two batches whatever the machine's speed; two trajectories.
SMALL_LIFE = """
model = { n = 5; m = 2; };
train = { steps = 200; check_every = 50; };
trajectory = { every = 50; runs = [1, 18]; };
grid  = ( { param = "train.lr"; values = [0.001, 0.1]; },
          { param = "init.seed"; range = [0, 10]; } );
"""


def with_fault(at=None, count=None):
    if not FAULT_INJECT.exists():
        pytest.fail(f"{FAULT_INJECT} is missing: `make test-python` builds it")
    env = {"LD_PRELOAD": str(FAULT_INJECT)}
    if at is not None:
        env["AESWEEP_FAULT_AT"] = str(at)
    if count is not None:
        env["AESWEEP_FAULT_COUNT"] = str(count)
    return env


def all_data(path):
    """Every dataset of a file (trajectories included) and the attributes a resume must keep."""
    data = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: data.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
        for key, value in f.attrs.items():
            if key not in ("start_time", "end_time", "model_steps_per_second"):
                data["@" + key] = value
    return data


def assert_identical(path, ref):
    got, want = all_data(path), ref
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        if isinstance(value, np.ndarray):
            assert value.dtype == got[name].dtype and value.shape == got[name].shape, name
            assert np.array_equal(got[name], value, equal_nan=value.dtype.kind == "f"), name
        else:
            assert got[name] == value, name


def test_a_kill_at_every_write_of_a_life_resumes_to_identical_data(tmp_path):
    """Kill at write k for every k of a whole sweep's life (creation, both batches, the
    trajectories and the close), then --resume: always the uninterrupted file, bit for bit."""
    cfg = tmp_path / "life.cfg"
    cfg.write_text(SMALL_LIFE)
    ref_dir, count = tmp_path / "ref", tmp_path / "count"
    ref_dir.mkdir()
    run_aesweep("run", cfg, "-o", ref_dir / "out.h5", "--quiet", "--threads", "1", env=with_fault(count=count))
    writes = int(count.read_text())
    assert writes > 50  # creation alone makes dozens
    ref = all_data(ref_dir / "out.h5")
    assert ref["trajectory/done"] == 1 and ref["done"].all()
    # K is the whole life: one more and nothing is killed
    run_aesweep("run", cfg, "-o", ref_dir / "again.h5", "--quiet", "--threads", "1", env=with_fault(at=writes + 1))
    kill_at_every_write_and_resume(cfg, tmp_path, writes, ref)


def kill_at_every_write_and_resume(cfg, tmp_path, writes, ref):
    """Kills a sweep of cfg (2 x 10 runs) at its k-th write for k = 1 .. writes, resumes it
    and compares it with ref (all_data of the uninterrupted file)."""
    for k in range(1, writes + 1):
        folder = tmp_path / f"k{k}"
        folder.mkdir()
        out = folder / "out.h5"
        proc = run_aesweep("run", cfg, "-o", out, "--quiet", "--threads", "1", check=False, env=with_fault(at=k))
        assert proc.returncode == -signal.SIGKILL, (k, proc.stderr)
        if out.exists():  # either no file, or one that opens as it is
            with h5py.File(out, "r") as f:
                assert f["done"].shape == (2, 10)
        run_aesweep("run", cfg, "-o", out, "--resume", "--quiet", "--threads", "1")
        assert_identical(out, ref)
        assert sorted(p.name for p in folder.iterdir()) == ["out.h5"], k  # no .part, no .lock left
        shutil.rmtree(folder)


def test_killed_at_random_moments_resumes_to_identical_data(tmp_path, write_config):
    cfg = write_config(SWEEP.replace("steps = 300", "steps = 20000"))
    ref, out = tmp_path / "ref.h5", tmp_path / "killed.h5"
    started = time.monotonic()
    run_aesweep("run", cfg, "-o", ref, "--quiet", "--threads", "1")
    life = time.monotonic() - started  # the whole life of this sweep, on this machine, now
    rng = np.random.default_rng(7)
    for attempt in range(3):  # kill, resume, kill again: each time at a random moment of the life
        proc = subprocess.Popen([str(AESWEEP), "run", str(cfg), "-o", str(out), "--quiet", "--threads", "1",
                                 "--resume"], cwd=REPO)
        time.sleep(life * rng.uniform(0.02, 0.25))  # three kills within 3/4 of a life: never finished
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL  # it really was killed, not finished
        if out.exists():
            check_killed_file(out)
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
