"""Nothing lost or destroyed (DESIGN.md section 7): one writer per output, readers while it
runs, interrupts, merges that never touch their inputs, hostile files, clear causes."""
import os
import pty
import re
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest
import xarray as xr

from e2e_support import AESWEEP, REPO, run_aesweep
from test_cli import SMALL, assert_same_data

# long enough to be caught running: 4000 runs of n = 16 on one thread
LONG = """
model = { n = 16; };
train = { steps = 20000; };
grid  = ( { param = "init.seed"; range = [0, 4000]; } );
"""
CORPUS = sorted((REPO / "tests" / "fuzz" / "h5").iterdir())


def start_sweep(cfg, out, *extra):
    env = {k: v for k, v in os.environ.items() if k != "HDF5_USE_FILE_LOCKING"}
    return subprocess.Popen([str(AESWEEP), "run", str(cfg), "-o", str(out), "--quiet", "--threads", "1", *extra],
                            cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)


def wait_for_first_batch(out, proc, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        if out.exists():
            with h5py.File(out, "r") as f:
                if f["done"][()].any():
                    return
        time.sleep(0.1)
    pytest.fail("the sweep wrote no batch in time")


def test_a_second_writer_is_refused_naming_the_holder_and_readers_open_the_file(tmp_path, write_config):
    cfg, out = write_config(LONG), tmp_path / "out.h5"
    proc = start_sweep(cfg, out)
    try:
        wait_for_first_batch(out, proc)
        inode = out.stat().st_ino
        for extra in [[], ["--force"], ["--resume"]]:
            other = run_aesweep("run", cfg, "-o", out, "--quiet", *extra, check=False)
            assert other.returncode == 1, (extra, other.stderr)
            assert f"pid {proc.pid}" in other.stderr and str(out) in other.stderr
        merged = run_aesweep("merge", "--force", out, tmp_path / "none.h5", check=False)
        assert merged.returncode == 1 and f"pid {proc.pid}" in merged.stderr
        shard = run_aesweep("merge", tmp_path / "m.h5", out, check=False)  # a running shard as an input
        assert shard.returncode == 1 and f"pid {proc.pid}" in shard.stderr and not (tmp_path / "m.h5").exists()
        assert out.stat().st_ino == inode and not (tmp_path / "out.h5.part").exists()
        # readers need no environment variable (HDF5_USE_FILE_LOCKING is not set here)
        with h5py.File(out, "r") as f:
            assert f["done"].shape == (4000,)
        ds = xr.open_dataset(out, engine="h5netcdf")
        assert int(ds["done"].sum()) >= 1
        ds.close()
        info = run_aesweep("info", out)
        assert "still running" in info.stdout
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    # SIGTERM: 143, how many runs are done, and how to finish them
    assert proc.returncode == 143, stderr
    assert "SIGTERM" in stderr and "of 4000 runs done" in stderr and "--resume" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5", "sweep.cfg"]  # lock gone, nothing else
    with h5py.File(out, "r") as f:
        assert 0 < f["done"][()].sum() < 4000


def test_sigint_exits_130_and_resume_finishes_identically(tmp_path, write_config):
    # 300 runs on one thread: batches of 16 runs at first, so the sweep is still going when
    # the first one is on disk and the signal comes
    cfg = write_config(SMALL.replace("steps = 400", "steps = 40000").replace("range = [0, 6]", "range = [0, 60]"))
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"
    proc = start_sweep(cfg, out, "--set", "train.steps=40000")
    wait_for_first_batch(out, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "SIGINT" in stderr and "of 300 runs done" in stderr and "--resume" in stderr
    # the batch whose write was in flight when the signal came is on disk and counted
    said = int(re.search(r"(\d+) of 300 runs done", stderr).group(1))
    with h5py.File(out, "r") as f:
        assert f["done"][()].sum() == said > 0
    run_aesweep("run", cfg, "-o", out, "--resume", "--quiet", "--set", "train.steps=40000")
    run_aesweep("run", cfg, "-o", ref, "--quiet", "--set", "train.steps=40000")
    assert_same_data(out, ref)


def test_resume_starts_a_missing_output(tmp_path, write_config):
    cfg, out = write_config(SMALL), tmp_path / "new.h5"
    proc = run_aesweep("run", cfg, "-o", out, "--resume")
    assert "not there yet: starting it" in proc.stderr
    run_aesweep("run", cfg, "-o", tmp_path / "ref.h5", "--quiet")
    assert_same_data(out, tmp_path / "ref.h5")


def test_force_replaces_the_old_file_only_by_rename(tmp_path, write_config):
    cfg, out = write_config(SMALL), tmp_path / "out.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    old_inode = out.stat().st_ino
    with open(out, "rb") as held:  # a reader holding the old file keeps reading it whole
        run_aesweep("run", cfg, "-o", out, "--force", "--quiet", "--set", "train.steps=10")
        assert os.fstat(held.fileno()).st_ino == old_inode and os.fstat(held.fileno()).st_nlink == 0
        assert held.read(8) == b"\x89HDF\r\n\x1a\n"
    assert out.stat().st_ino != old_inode
    # a failing --force (here: the config is bad) leaves the old file as it was
    before = out.read_bytes()
    proc = run_aesweep("run", cfg, "-o", out, "--force", "--set", "train.steps=-1", check=False)
    assert proc.returncode == 2 and out.read_bytes() == before


def test_leftover_temporary_of_a_killed_run_is_replaced(tmp_path, write_config):
    cfg, out = write_config(SMALL), tmp_path / "out.h5"
    (tmp_path / "out.h5.part").write_bytes(b"half a file from a run killed while it created the layout")
    (tmp_path / "out.h5.lock").write_text("12345\n")  # a stale lock file: no process holds it
    run_aesweep("run", cfg, "-o", out, "--resume", "--quiet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5", "sweep.cfg"]
    # a leftover beside a file that is there (a `--force` killed while it built the new one)
    (tmp_path / "out.h5.part").write_bytes(b"half a replacement")
    run_aesweep("run", cfg, "-o", out, "--resume", "--quiet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5", "sweep.cfg"]


@pytest.mark.parametrize("command", ["resume", "merge"])
def test_files_of_another_build_are_refused_naming_both_stamps(tmp_path, write_config, command):
    cfg = write_config(SMALL)
    shards = [tmp_path / f"s{k}.h5" for k in range(2)]
    for k, shard in enumerate(shards):
        run_aesweep("run", cfg, "-o", shard, "--shard", f"{k}/2", "--quiet")
    with h5py.File(shards[1], "r") as f:
        ours = f.attrs["git_commit"]
    with h5py.File(shards[1], "r+") as f:
        f.attrs["git_commit"] = "0badc0de"
    if command == "resume":
        proc = run_aesweep("run", cfg, "-o", shards[1], "--resume", check=False)
    else:
        proc = run_aesweep("merge", tmp_path / "merged.h5", *shards, check=False)
        assert not (tmp_path / "merged.h5").exists() and not (tmp_path / "merged.h5.part").exists()
    assert proc.returncode == 2, proc.stderr
    assert "0badc0de" in proc.stderr and ours in proc.stderr


def test_merge_never_changes_an_input_nor_writes_over_one(tmp_path, write_config):
    cfg = write_config(SMALL)
    shards = [tmp_path / f"s{k}.h5" for k in range(2)]
    for k, shard in enumerate(shards):
        run_aesweep("run", cfg, "-o", shard, "--shard", f"{k}/2", "--quiet")
    before = [s.read_bytes() for s in shards]
    for force in [[], ["--force"]]:
        proc = run_aesweep("merge", *force, shards[0], *shards, check=False)
        assert proc.returncode == 2 and "is the input" in proc.stderr, proc.stderr
    os.link(shards[0], tmp_path / "alias.h5")  # the same file under another name: refused as hard-linked
    for output in [shards[0], tmp_path / "alias.h5"]:
        for force in [[], ["--force"]]:
            proc = run_aesweep("merge", *force, output, *shards, check=False)
            assert proc.returncode == 2 and "2 hard links" in proc.stderr, proc.stderr
    os.unlink(tmp_path / "alias.h5")
    merged = tmp_path / "merged.h5"
    run_aesweep("merge", merged, *shards)
    assert [s.read_bytes() for s in shards] == before
    run_aesweep("run", cfg, "-o", tmp_path / "full.h5", "--quiet")
    assert_same_data(merged, tmp_path / "full.h5")
    # a failing merge with --force over a good output leaves it as it was
    good = merged.read_bytes()
    proc = run_aesweep("merge", "--force", merged, shards[0], check=False)
    assert proc.returncode == 2 and "undone" in proc.stderr
    assert merged.read_bytes() == good and not (tmp_path / "merged.h5.part").exists()


def test_output_may_not_be_the_config_or_the_init_file(tmp_path, write_config):
    cfg = write_config(SMALL)
    text = cfg.read_text()
    proc = run_aesweep("run", cfg, "-o", cfg, "--force", check=False)
    assert proc.returncode == 2 and "config file" in proc.stderr and cfg.read_text() == text
    base = tmp_path / "base.h5"
    run_aesweep("run", cfg, "-o", base, "--quiet")
    before = base.read_bytes()
    from_file = write_config(f'model = {{ n = 5; }};\ninit = {{ scheme = "file"; file = "{base}"; }};\n'
                             "train = { steps = 10; };\n", "from_file.cfg")
    for extra in [["--force"], ["--resume"]]:
        proc = run_aesweep("run", from_file, "-o", base, *extra, check=False)
        assert proc.returncode == 2 and "init.file" in proc.stderr, proc.stderr
    assert base.read_bytes() == before


@pytest.mark.parametrize("shard", ["18446744073709551615/18446744073709551616", "99999999999999999999/3",
                                   "-1/3", "1/-3", "3/3", "1/0", "1/2/3", "1 /2", "0x1/2"])
def test_shard_values_out_of_range_are_usage_errors(tmp_path, write_config, shard):
    proc = run_aesweep("run", write_config(SMALL), "-o", tmp_path / "x.h5", "--shard", shard, check=False)
    assert proc.returncode == 2 and "--shard" in proc.stderr
    assert not (tmp_path / "x.h5").exists()


def test_a_huge_shard_count_trains_only_its_slice(tmp_path, write_config):
    cfg = write_config(SMALL)  # 30 runs: slice K of 2^64-1 holds run floor(30 K / N) at most
    out = tmp_path / "x.h5"
    run_aesweep("run", cfg, "-o", out, "--shard", "18446744073709551614/18446744073709551615", "--quiet")
    with h5py.File(out, "r") as f:
        assert f["done"][()].sum() <= 1


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_hostile_files_give_clear_errors(tmp_path, write_config, path):
    """The fuzz corpus through the real binary: a message or a result, never a crash."""
    for args in [["info", path], ["merge", tmp_path / "m.h5", path, path]]:
        proc = run_aesweep(*args, check=False)
        assert proc.returncode in (0, 1, 2), (args, proc.returncode, proc.stderr)
        assert proc.returncode == 0 or proc.stderr.startswith("aesweep: "), proc.stderr
    cfg = write_config(f'model = {{ n = 4; }};\ninit = {{ scheme = "file"; file = "{path}"; select = "first:perfect"; }};\n'
                       "train = { steps = 10; };\n")
    proc = run_aesweep("run", cfg, "-o", tmp_path / "x.h5", "--quiet", check=False)
    assert proc.returncode in (0, 2), proc.stderr
    if "W_final" in path.name or "b_final" in path.name or "outcome" in path.name or "extent" in path.name:
        assert proc.returncode == 2 and str(path) in proc.stderr


def test_causes_are_named_newer_format_and_disk_full(tmp_path, write_config):
    cfg, out = write_config(SMALL), tmp_path / "out.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    data = bytearray(out.read_bytes())
    data[8] = 9  # a superblock version this HDF5 does not know
    out.write_bytes(data)
    proc = run_aesweep("run", cfg, "-o", out, "--resume", "--quiet", check=False)
    assert proc.returncode == 1 and "newer HDF5 format" in proc.stderr and "\n" not in proc.stderr.strip()
    full = tmp_path / "full.h5"
    os.symlink("/dev/full", tmp_path / "full.h5.part")  # every write of the new file: ENOSPC
    proc = run_aesweep("run", cfg, "-o", full, "--quiet", check=False)
    assert proc.returncode == 1 and "disk full" in proc.stderr, proc.stderr
    assert not full.exists()


def test_progress_is_a_live_line_on_a_terminal(tmp_path, write_config):
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(AESWEEP), "run", str(write_config(SMALL)), "-o", str(tmp_path / "o.h5")],
                            cwd=REPO, stderr=slave, stdout=subprocess.DEVNULL)
    os.close(slave)
    text = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        text += chunk
    proc.wait()
    os.close(master)
    assert proc.returncode == 0
    assert b"\raesweep: 30/30 runs (100.0%)" in text and b"runs/s" in text and b"ETA" in text
    quiet = run_aesweep("run", write_config(SMALL), "-o", tmp_path / "q.h5", "--quiet")
    assert quiet.stderr == ""


@pytest.mark.parametrize("attribute", ["device", "start_time", "config_json", "model_steps_per_second"])
def test_info_names_an_array_attribute_instead_of_overflowing(tmp_path, write_config, attribute):
    """A foreign or edited file whose root attribute is an array of fixed-length strings
    (or of numbers): `info` reads one value only, so it says so and goes on (the census too)."""
    out = tmp_path / "out.h5"
    run_aesweep("run", write_config(SMALL), "-o", out, "--quiet")
    with h5py.File(out, "r+") as f:
        del f.attrs[attribute]
        if attribute == "model_steps_per_second":
            f.attrs[attribute] = np.arange(40.0)
        else:
            f.attrs.create(attribute, np.array([b"x" * 30] * 40), dtype=h5py.string_dtype("ascii", 30))
    result = run_aesweep("info", out)
    assert "census after" in result.stdout
    if attribute != "config_json":
        assert f"the file's `{attribute}` is not one value" in result.stdout


def test_a_closed_stderr_pipe_does_not_kill_the_sweep(tmp_path, write_config):
    """`aesweep run ... 2>&1 | head -1`: the reader goes away after the first line; the
    sweep goes on to the end (SIGPIPE ignored, the lost progress lines are all it costs)."""
    cfg, out = write_config(SMALL.replace("steps = 400;", "steps = 2000000;")), tmp_path / "p.h5"
    proc = subprocess.Popen([str(AESWEEP), "run", str(cfg), "-o", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=300) == 0
    with h5py.File(out) as f:
        assert f["done"][...].all()
    assert not list(tmp_path.glob("*.lock"))
