"""Reliability round 3 (issue 23): inputs that used to give wrong results with exit 0 are
refused with a clear error. Each test failed before its fix."""
import h5py
import numpy as np
import pytest

from e2e_support import run_aesweep
from test_cli import SMALL

ONE = """
model = { n = 7; m = 2; };
train = { steps = 200; };
grid  = ( { param = "init.seed"; range = [0, 4]; } );
"""


def retype(path, name, dtype):
    """Replaces dataset `name` by the same values in another dtype, scales and attributes kept."""
    with h5py.File(path, "r+") as f:
        old = f[name]
        data, attrs = old[()], {k: v for k, v in old.attrs.items() if k not in ("DIMENSION_LIST", "_FillValue")}
        scales = [d[0].name for d in old.dims]
        del f[name]
        new = f.create_dataset(name, data=data.astype(dtype))
        for k, v in attrs.items():
            new.attrs[k] = v
        for i, scale in enumerate(scales):
            new.dims[i].attach_scale(f[scale])


@pytest.mark.parametrize("name, dtype", [("loss", "i1"), ("W_final", "f2"), ("outcome", "i4"), ("done", "i1")])
def test_resume_refuses_variables_of_another_type(tmp_path, write_config, name, dtype):
    cfg, out = write_config(SMALL), tmp_path / "out.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    retype(out, name, dtype)
    proc = run_aesweep("run", cfg, "-o", out, "--quiet", "--resume", check=False)
    assert proc.returncode == 2 and f"{name} is not of the type its config writes" in proc.stderr, proc.stderr


@pytest.mark.parametrize("features, grid, words", [
    ("[7]", "", "feature 7 does not exist in a run with n = 7"),
    ("[6, 6]", "", "feature 6 is listed twice"),
    ("[6]", '{ param = "model.n"; values = [8, 5, 7]; },', "feature 6 does not exist in a run with n = 5"),
])
def test_perturb_features_must_name_distinct_features_of_every_run(tmp_path, write_config, features, grid, words):
    text = ONE.replace("grid  = ( ", f"grid  = ( {grid} ") + f"perturb = {{ features = {features}; bias_delta = 0.1; }};\n"
    proc = run_aesweep("run", write_config(text), "-o", tmp_path / "out.h5", "--quiet", check=False)
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr
    assert not (tmp_path / "out.h5").exists()


def test_a_base_state_past_float32_range_is_refused_for_float32_runs(tmp_path, write_config):
    source = tmp_path / "source.h5"
    run_aesweep("run", write_config(ONE, "s.cfg"), "-o", source, "--quiet", "--set", 'model.precision="float64"')
    with h5py.File(source, "r+") as f:
        W = f["W_final"][()]
        W[2, 0, 0] = 1e39  # finite in float64, infinite in float32
        f["W_final"][...] = W
    text = f'model = {{ n = 7; }};\ninit = {{ scheme = "file"; file = "{source}"; }};\ntrain = {{ steps = 100; }};\n'
    proc = run_aesweep("run", write_config(text), "-o", tmp_path / "out.h5", "--quiet", check=False)
    assert proc.returncode == 2 and "past float32's range" in proc.stderr and "run 2 of the file" in proc.stderr
    ok = run_aesweep("run", write_config(text), "-o", tmp_path / "f64.h5", "--quiet",
                     "--set", 'model.precision="float64"', check=False)
    assert ok.returncode == 0, ok.stderr
    with h5py.File(tmp_path / "f64.h5", "r") as f:
        assert np.isfinite(f["loss"][()]).sum() >= 3  # the others train; run 2 may diverge from 1e39


def test_a_run_of_unclosed_brackets_parses_in_linear_time(tmp_path):
    """300 000 '[' took minutes in the quadratic number pre-pass; now a clear error at once
    (the timeout is a hang guard, 100 times what it takes)."""
    cfg = tmp_path / "brackets.cfg"
    cfg.write_text("model = { n = 7; };\ngrid = " + "[" * 300000 + "\n")
    proc = run_aesweep("run", cfg, "-o", tmp_path / "out.h5", "--quiet", check=False, timeout=60)
    assert proc.returncode == 2 and "brackets.cfg" in proc.stderr


def test_a_resume_with_nothing_to_do_keeps_the_provenance(tmp_path, write_config):
    cfg, out = write_config(SMALL), tmp_path / "out.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    with h5py.File(out, "r") as f:
        before = {k: f.attrs[k] for k in ("model_steps_per_second", "end_time", "start_time")}
    assert before["model_steps_per_second"] > 0
    run_aesweep("run", cfg, "-o", out, "--quiet", "--resume")
    with h5py.File(out, "r") as f:
        assert {k: f.attrs[k] for k in before} == before


def test_info_calls_a_finished_shard_finished(tmp_path, write_config):
    cfg = write_config(SMALL)
    shard = tmp_path / "shard0.h5"
    run_aesweep("run", cfg, "-o", shard, "--shard", "0/3", "--quiet")
    text = run_aesweep("info", shard).stdout
    assert "a finished shard" in text and "still running" not in text


@pytest.mark.parametrize("extra, words", [
    ("twin = { relative = 5; };", "twin.relative: expects true or false, got an integer"),
    ("init = { seed = 9007199254740993; };", "past 2^53"),
    ("init = { seed = 9007199254740992; };", None),  # the largest exact one is fine
    ("init = { seed = 99999999999999999999; };", "init.seed: 1e+20 is out of range"),  # not clamped to int64
    ("trajectory = { every = 10; runs = [18446744073709551615]; };", "item 1 is not a run index"),
])
def test_messages_say_what_is_wrong(tmp_path, write_config, extra, words):
    text = "model = { n = 5; };\ntrain = { steps = 10; };\n" + extra + "\n"
    proc = run_aesweep("run", write_config(text), "-o", tmp_path / "out.h5", "--quiet", check=False)
    if words is None:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr


def test_merge_messages_name_each_shard_and_give_advice_that_works(tmp_path, write_config):
    cfg = write_config(SMALL)
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    run_aesweep("run", cfg, "-o", a, "--shard", "0/2", "--quiet", "--set", "train.steps=400")
    run_aesweep("run", cfg, "-o", b, "--shard", "1/2", "--quiet", "--set", "train.steps=300")
    proc = run_aesweep("merge", tmp_path / "m.h5", a, b, check=False)
    assert proc.returncode == 2, proc.stderr
    first = next(line for line in proc.stderr.splitlines() if "first shard:" in line)
    this = next(line for line in proc.stderr.splitlines() if "this shard:" in line)
    assert "400" in first and "300" in this  # the first shard's value first
    c = tmp_path / "c.h5"
    run_aesweep("run", cfg, "-o", c, "--shard", "1/2", "--quiet", "--set", "train.steps=400")
    with h5py.File(c, "r+") as f:
        f.attrs["git_commit"] = "0000000"
    for extra in ([], ["--force"]):
        proc = run_aesweep("merge", *extra, tmp_path / "m.h5", a, c, check=False)
        assert proc.returncode == 2 and "commit 0000000" in proc.stderr, proc.stderr
        assert "merge its shards with that build" in proc.stderr and "--force" not in proc.stderr


def test_trajectories_larger_than_memory_are_a_config_error(tmp_path, write_config):
    proc = run_aesweep("run", write_config(SMALL), "-o", tmp_path / "out.h5", "--quiet", "--set", "train.steps=1e12",
                       "--set", "trajectory.every=10", "--set", "trajectory.runs=[0]", check=False)
    assert proc.returncode == 2 and "raise trajectory.every" in proc.stderr, proc.stderr
    assert not (tmp_path / "out.h5").exists()


def copy_with(source, target, name, **create):
    """target: a copy of the aesweep output source with variable `name` written anew
    (create: h5py create_dataset options, e.g. compression), its scales kept."""
    import shutil
    shutil.copy(source, target)
    with h5py.File(target, "r+") as f:
        old = f[name]
        data, scales = old[()], [d[0].name for d in old.dims]
        del f[name]
        new = f.create_dataset(name, data=data, **create)
        for i, scale in enumerate(scales):
            new.dims[i].attach_scale(f[scale])


def test_compressed_and_virtual_base_states_are_read_like_plain_ones(tmp_path, write_config):
    """DESIGN promises any HDF5 file with the right shapes as init.file: a gzip-compressed
    or a virtual W_final used to be refused as 'not an aesweep output'."""
    source = tmp_path / "source.h5"
    run_aesweep("run", write_config(ONE, "s.cfg"), "-o", source, "--quiet")
    copy_with(source, tmp_path / "gzip.h5", "W_final", compression="gzip", chunks=True)
    import shutil
    shutil.copy(source, tmp_path / "virtual.h5")
    with h5py.File(source, "r") as f:
        shape, dtype = f["W_final"].shape, f["W_final"].dtype
    with h5py.File(tmp_path / "virtual.h5", "r+") as f:
        del f["W_final"]
        layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
        layout[...] = h5py.VirtualSource(str(source), "W_final", shape=shape)
        f.create_virtual_dataset("W_final", layout, fillvalue=np.nan)
    results = {}
    for name in ("source", "gzip", "virtual"):
        text = f'model = {{ n = 7; }};\ninit = {{ scheme = "file"; file = "{tmp_path / name}.h5"; }};\n' \
               'train = { steps = 100; };\n'
        out = tmp_path / f"from_{name}.h5"
        proc = run_aesweep("run", write_config(text, f"{name}.cfg"), "-o", out, "--quiet", check=False)
        assert proc.returncode == 0, (name, proc.stderr)
        with h5py.File(out, "r") as f:
            results[name] = f["W_final"][()]
    np.testing.assert_array_equal(results["gzip"], results["source"])
    np.testing.assert_array_equal(results["virtual"], results["source"])


def test_info_reads_outcome_codes_by_their_flag_values(tmp_path, write_config):
    """A file whose flag_values are not 0, 1, 2...: info counts each run by its name."""
    out = tmp_path / "out.h5"
    run_aesweep("run", write_config(SMALL), "-o", out, "--quiet")
    with h5py.File(out, "r+") as f:
        names = f["outcome"].attrs["flag_meanings"].split()
        codes = f["outcome"][()]
        perfect = int(np.sum(codes == names.index("perfect")))
        # the same classes under codes 10, 11, ...: the runs' codes moved along
        f["outcome"][...] = np.where(codes >= 0, codes + 10, codes).astype("i1")
        f["outcome"].attrs["flag_values"] = np.arange(10, 10 + len(names), dtype="i1")
    text = run_aesweep("info", out).stdout
    all_row = next(line for line in text.splitlines() if line.strip().startswith("all "))
    assert f"{100 * perfect / codes.size:.2f}%" in all_row and "carry outcome classes" not in text
