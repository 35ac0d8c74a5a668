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
