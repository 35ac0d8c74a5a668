"""MPI: ranks split the runs and write one shared file with parallel HDF5 (make MPI=1)."""
import shutil
import subprocess

import h5py
import pytest

from e2e_support import REPO, run_aesweep
from test_cli import SMALL, assert_same_data

MPI_AESWEEP = REPO / "build" / "mpi" / "aesweep"


def mpirun(ranks, *args):
    if not MPI_AESWEEP.exists() or not shutil.which("mpirun"):
        pytest.fail("the MPI build is missing: `make deps mpi` installs OpenMPI and builds build/mpi/aesweep")
    # as root OpenMPI wants --allow-run-as-root; --oversubscribe: more ranks than cores is fine here
    proc = subprocess.run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), str(MPI_AESWEEP),
                           *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_two_ranks_write_the_file_one_process_writes(tmp_path, write_config):
    cfg = write_config(SMALL.replace("train =", "trajectory = { every = 100; runs = [4]; };\ntrain ="))
    mpirun(2, "run", cfg, "-o", tmp_path / "mpi.h5", "--threads", "1", "--quiet")
    run_aesweep("run", cfg, "-o", tmp_path / "serial.h5", "--quiet")
    assert_same_data(tmp_path / "mpi.h5", tmp_path / "serial.h5")
    with h5py.File(tmp_path / "mpi.h5") as f, h5py.File(tmp_path / "serial.h5") as g:
        assert (f["trajectory/W"][()] == g["trajectory/W"][()]).all()
        assert f.attrs["backend"] == b"cpu"  # fixed length: rewritten in place when a sweep ends


def test_ranks_resume_a_file_left_unfinished(tmp_path, write_config):
    cfg, out = write_config(SMALL), tmp_path / "out.h5"
    run_aesweep("run", cfg, "-o", tmp_path / "ref.h5", "--quiet")
    run_aesweep("run", cfg, "-o", out, "--quiet", "--shard", "1/3")  # a third done
    mpirun(3, "run", cfg, "-o", out, "--resume", "--threads", "1", "--quiet")
    assert_same_data(out, tmp_path / "ref.h5")


def test_more_ranks_than_runs(tmp_path, write_config):
    cfg = write_config("train = { steps = 50; };\n")  # one run, no grid: rank 1 has nothing to do
    mpirun(2, "run", cfg, "-o", tmp_path / "mpi.h5", "--quiet")
    run_aesweep("run", cfg, "-o", tmp_path / "serial.h5", "--quiet")
    assert_same_data(tmp_path / "mpi.h5", tmp_path / "serial.h5")


LONG = """
model = { n = 7; m = 2; };
train = { steps = 20000; };
grid  = ( { param = "init.seed"; range = [0, 100000]; } );
"""


@pytest.mark.parametrize("signal_name, code", [("TERM", 143), ("INT", 130)])
def test_interrupted_ranks_exit_as_a_serial_run_does(tmp_path, write_config, signal_name, code):
    """A signal to the ranks (as Slurm's scancel sends it): each finishes the batch in hand,
    rank 0 says how many runs are done, and mpirun passes the ranks' 128 + signal on. A
    signal to mpirun itself is OpenMPI's to answer (it exits 1 after forwarding SIGTERM to the
    ranks); the file is resumable either way (README: Clusters)."""
    import time

    cfg, out = write_config(LONG), tmp_path / "long.h5"
    proc = subprocess.Popen(["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2", str(MPI_AESWEEP), "run",
                             str(cfg), "-o", str(out), "--threads", "1"], cwd=REPO, stderr=subprocess.PIPE, text=True)
    for _ in range(300):  # the file, then a second for the first batches (the whole sweep takes minutes)
        if out.exists():
            break
        time.sleep(0.1)
    time.sleep(1.5)
    ranks = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(ranks) == 2, ranks
    for pid in ranks:
        subprocess.run(["kill", f"-{signal_name}", pid], check=True)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert f"interrupted by SIG{signal_name}" in stderr and "--resume finishes them" in stderr
    with h5py.File(out, "r") as f:
        done = int(f["done"][()].sum())
    assert 0 < done < 100000
