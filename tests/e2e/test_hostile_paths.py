"""Reliability round 3 (issue 23): one writer per file whatever its name, never replace what
is not a regular file, never hang on a FIFO. Each test failed before its fix."""
import os
import signal
import stat

import h5py
import pytest

from e2e_support import run_aesweep
from test_cli import SMALL
from test_files import LONG, start_sweep, wait_for_first_batch


def test_a_symlink_and_its_target_share_one_lock_and_the_link_stays(tmp_path, write_config):
    cfg, small = write_config(LONG), write_config(SMALL, "small.cfg")
    real, link = tmp_path / "real.h5", tmp_path / "link.h5"
    link.symlink_to(real.name)  # dangling until the sweep creates real.h5
    proc = start_sweep(cfg, link, "--resume")
    try:
        wait_for_first_batch(real, proc)
        for out, extra in [(real, "--force"), (link, "--force"), (real, "--resume")]:
            other = run_aesweep("run", small, "-o", out, "--quiet", extra, check=False)
            assert other.returncode == 1 and f"pid {proc.pid}" in other.stderr, (out, extra, other.stderr)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert link.is_symlink() and os.readlink(link) == real.name  # written through, not replaced
    with h5py.File(real, "r") as f:
        assert f["done"].shape == (4000,) and f["done"][()].any()  # the big sweep, not the small one


def test_a_hard_linked_output_is_refused_and_left_alone(tmp_path, write_config):
    cfg = write_config(SMALL)
    real, other = tmp_path / "real.h5", tmp_path / "other.h5"
    run_aesweep("run", cfg, "-o", real, "--quiet")
    os.link(real, other)
    before = real.read_bytes()
    for out in (real, other):
        for extra in (["--force"], ["--resume"]):
            proc = run_aesweep("run", cfg, "-o", out, "--quiet", *extra, check=False)
            assert proc.returncode == 2 and "2 hard links" in proc.stderr, proc.stderr
    merged = run_aesweep("merge", "--force", other, real, check=False)
    assert merged.returncode == 2 and "hard links" in merged.stderr
    assert real.read_bytes() == before and os.stat(real).st_nlink == 2
    assert not list(tmp_path.glob("*.lock")) and not list(tmp_path.glob("*.part"))


def test_a_dangling_symlink_names_no_output(tmp_path, write_config):
    link = tmp_path / "link.h5"
    link.symlink_to(tmp_path / "no" / "such" / "dir.h5")
    proc = run_aesweep("run", write_config(SMALL), "-o", link, "--quiet", check=False)
    assert proc.returncode == 2 and "symlink into a missing folder" in proc.stderr, proc.stderr


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_outputs_that_are_not_regular_files_are_refused_untouched(tmp_path, write_config, kind):
    if kind == "fifo":
        out = tmp_path / "out.h5"
        os.mkfifo(out)
    elif kind == "directory":
        out = tmp_path / "out.h5"
        out.mkdir()
    else:
        out = "/dev/null"  # a device node: as root, the old engine turned /dev/full into an HDF5 file
    cfg = write_config(SMALL)
    for extra in (["--force"], ["--resume"], []):
        proc = run_aesweep("run", cfg, "-o", out, "--quiet", *extra, check=False, timeout=20)
        assert proc.returncode == 2 and "only as a regular file" in proc.stderr, proc.stderr
    merged = run_aesweep("merge", "--force", out, tmp_path / "x.h5", check=False, timeout=20)
    assert merged.returncode == 2 and "only as a regular file" in merged.stderr
    mode = os.stat(out).st_mode
    assert {"fifo": stat.S_ISFIFO, "directory": stat.S_ISDIR, "device": stat.S_ISCHR}[kind](mode)
    assert not os.path.exists(f"{out}.lock") and not os.path.exists(f"{out}.part")


def test_a_fifo_as_config_init_file_shard_or_info_input_is_refused_without_hanging(tmp_path, write_config):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = run_aesweep("run", fifo, "-o", tmp_path / "a.h5", "--quiet", check=False, timeout=20)
    assert proc.returncode == 2 and "is a FIFO" in proc.stderr, proc.stderr
    cfg = write_config(f'model = {{ n = 5; }};\ninit = {{ scheme = "file"; file = "{fifo}"; }};\n', "from_fifo.cfg")
    proc = run_aesweep("run", cfg, "-o", tmp_path / "b.h5", "--quiet", check=False, timeout=20)
    assert proc.returncode == 2 and "init.file is a FIFO" in proc.stderr, proc.stderr
    proc = run_aesweep("merge", tmp_path / "c.h5", fifo, check=False, timeout=20)
    assert proc.returncode != 0 and "is a FIFO" in proc.stderr, proc.stderr
    proc = run_aesweep("info", fifo, check=False, timeout=20)
    assert proc.returncode != 0 and "is a FIFO" in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["from_fifo.cfg", "pipe"]
