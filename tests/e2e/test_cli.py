"""End-to-end: sweeps through the real binary, real HDF5 files, opened with xarray."""
import re
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from e2e_support import REPO, run_aesweep

SMALL = """
model = { n = 5; m = 2; };
init  = { scheme = "xavier_normal"; seed = 0; };
train = { optimizer = "adamw"; lr = 1e-3; steps = 400; check_every = 50; };
grid  = ( { param = "train.lr"; logspace = [-3.0, -1.0, 5]; },
          { param = "init.seed"; range = [0, 6]; } );
"""

def read_all(path):
    """Every dataset at the file's root: the run records, `done` and the coordinates."""
    with h5py.File(path, "r") as f:
        return {name: item[()] for name, item in f.items() if isinstance(item, h5py.Dataset)}


def assert_same_data(a, b):
    da, db = read_all(a), read_all(b)
    assert set(da) == set(db) and {"outcome", "plateau_kind", "tilt", "W_final", "done"} <= set(da)
    for name in da:
        assert da[name].shape == db[name].shape, name
        assert np.array_equal(da[name], db[name], equal_nan=da[name].dtype.kind == "f"), name


def test_sweep_opens_in_xarray_with_labelled_axes(tmp_path, write_config):
    out = tmp_path / "out.h5"
    run_aesweep("run", write_config(SMALL), "-o", out, "--quiet")
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert ds["outcome"].dims == ("lr", "seed")
    assert ds["W_final"].dims == ("lr", "seed", "feature", "latent")
    assert ds["recon"].dims == ("lr", "seed", "feature")
    np.testing.assert_allclose(ds["lr"].values, np.logspace(-3, -1, 5))
    assert list(ds["seed"].values) == [0, 1, 2, 3, 4, 5]
    assert ds.sizes["feature"] == 5 and ds.sizes["latent"] == 2
    assert (ds["done"].values == 1).all()
    assert set(np.unique(ds["outcome"].values)) <= set(range(7))
    assert ds["outcome"].attrs["flag_meanings"] == ("perfect symmetric_failure pinned_failure dead_failure "
                                                    "interference_failure still_learning diverged")
    assert list(ds["outcome"].attrs["flag_values"]) == list(range(7))
    for name in ["loss", "splay", "recon", "W_final"]:  # dimensionless: no units (CF), no "[1]" on labels
        assert ds[name].attrs["long_name"] and "units" not in ds[name].attrs
    assert ds["min_gap"].attrs["units"] == "rad" and ds["first_perfect_step"].attrs["units"] == "step"
    for key in ["config", "config_json", "aesweep_version", "git_commit", "backend", "device", "start_time",
                "end_time", "model_steps_per_second"]:
        assert key in ds.attrs, key
    assert ds.attrs["backend"] == "cpu" and ds.attrs["model_steps_per_second"] > 0
    # the records agree with each other: n_learnt counts recon >= 0.5, splay sums the norms
    recon = ds["recon"].values
    assert (ds["n_learnt"].values == (recon >= 0.5).sum(-1)).all()
    np.testing.assert_allclose(ds["splay"].values, ds["norm"].values.sum(-1), rtol=1e-5)
    np.testing.assert_allclose(ds["norm"].values, np.linalg.norm(ds["W_final"].values, axis=-1), rtol=1e-5)
    perfect = ds["outcome"].values == 0
    assert (ds["n_learnt"].values[perfect] == 5).all()


def test_two_runs_of_one_config_give_identical_data(tmp_path, write_config):
    cfg = write_config(SMALL)
    run_aesweep("run", cfg, "-o", tmp_path / "a.h5", "--quiet")
    run_aesweep("run", cfg, "-o", tmp_path / "b.h5", "--quiet")
    assert_same_data(tmp_path / "a.h5", tmp_path / "b.h5")


def test_results_do_not_depend_on_thread_count(tmp_path, write_config):
    cfg = write_config(SMALL)
    run_aesweep("run", cfg, "-o", tmp_path / "one.h5", "--threads", "1", "--quiet")
    run_aesweep("run", cfg, "-o", tmp_path / "two.h5", "--threads", "2", "--quiet")
    assert_same_data(tmp_path / "one.h5", tmp_path / "two.h5")


@pytest.mark.parametrize("steps", [0, 300])
def test_a_run_does_not_depend_on_the_grid_around_it(tmp_path, write_config, steps):
    big = write_config(SMALL, "big.cfg")
    alone = write_config(SMALL.split("grid")[0] + "grid = ( { param = \"init.seed\"; values = [4]; } );\n",
                         "alone.cfg")
    run_aesweep("run", big, "-o", tmp_path / "big.h5", "--set", f"train.steps={steps}", "--quiet")
    run_aesweep("run", alone, "-o", tmp_path / "alone.h5", "--set", "train.lr=0.01",
                "--set", f"train.steps={steps}", "--quiet")
    with h5py.File(tmp_path / "big.h5") as big_file, h5py.File(tmp_path / "alone.h5") as alone_file:
        lr_index = int(np.argmin(abs(big_file["lr"][()] - 0.01)))
        assert np.array_equal(big_file["W_final"][lr_index, 4], alone_file["W_final"][0])
        assert np.array_equal(big_file["b_final"][lr_index, 4], alone_file["b_final"][0])


def test_existing_output_is_never_overwritten(tmp_path, write_config):
    cfg, out = write_config(SMALL), tmp_path / "out.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    before = out.read_bytes()
    proc = run_aesweep("run", cfg, "-o", out, "--quiet", check=False)
    assert proc.returncode == 2 and "--resume" in proc.stderr and "--force" in proc.stderr
    assert out.read_bytes() == before
    run_aesweep("run", cfg, "-o", out, "--force", "--quiet")


def test_resume_completes_runs_not_done_with_identical_results(tmp_path, write_config):
    cfg, out, ref = write_config(SMALL), tmp_path / "out.h5", tmp_path / "ref.h5"
    run_aesweep("run", cfg, "-o", ref, "--quiet")
    run_aesweep("run", cfg, "-o", out, "--quiet")
    with h5py.File(out, "r+") as f:  # as if killed: half the runs never written
        done = f["done"][()]
        done.flat[7:23] = 0
        f["done"][...] = done
        for name in ["loss", "W_final", "b_final"]:
            data = f[name][()]
            data.reshape(done.size, -1)[7:23] = np.nan
            f[name][...] = data
    info = run_aesweep("info", out).stdout
    assert "14 / 30" in info
    run_aesweep("run", cfg, "-o", out, "--resume", "--quiet")
    assert_same_data(out, ref)


def test_resume_with_a_different_config_is_refused(tmp_path, write_config):
    cfg, out = write_config(SMALL), tmp_path / "out.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    proc = run_aesweep("run", cfg, "-o", out, "--resume", "--set", "train.steps=500", check=False)
    assert proc.returncode == 2
    assert "different config" in proc.stderr and '"train.steps": 400' in proc.stderr and "500" in proc.stderr


def test_shards_merge_into_the_unsharded_file(tmp_path, write_config):
    cfg = write_config(SMALL)
    run_aesweep("run", cfg, "-o", tmp_path / "full.h5", "--quiet")
    shards = [tmp_path / f"shard{k}.h5" for k in range(4)]
    for k, shard in enumerate(shards):  # 30 runs in 4 slices: boundaries inside rows of the grid
        run_aesweep("run", cfg, "-o", shard, "--shard", f"{k}/4", "--quiet")
    run_aesweep("merge", tmp_path / "merged.h5", *shards)
    assert_same_data(tmp_path / "merged.h5", tmp_path / "full.h5")
    proc = run_aesweep("merge", tmp_path / "partial.h5", *shards[:3], check=False)
    assert proc.returncode == 2 and "undone" in proc.stderr and not (tmp_path / "partial.h5").exists()
    proc = run_aesweep("merge", tmp_path / "twice.h5", shards[0], shards[0], check=False)
    assert proc.returncode == 2 and "earlier shard" in proc.stderr


def test_n_as_an_axis_pads_per_feature_variables_with_nan(tmp_path, write_config):
    cfg = write_config("""
train = { steps = 100; };
grid  = ( { param = "model.n"; values = [3, 6]; }, { param = "init.seed"; range = [0, 2]; } );
""")
    out = tmp_path / "n.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert ds.sizes["feature"] == 6
    assert np.isnan(ds["recon"].sel(n=3).values[:, 3:]).all()
    assert np.isfinite(ds["recon"].sel(n=3).values[:, :3]).all()
    assert np.isfinite(ds["W_final"].sel(n=6).values).all()


def test_an_optimizer_axis_has_named_coordinates(tmp_path, write_config):
    cfg = write_config("""
train = { steps = 50; weight_decay = 0.0; };
grid  = ( { param = "train.optimizer"; values = ["sgd", "adam", "adamw"]; } );
""")
    out = tmp_path / "opt.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert list(ds["optimizer"].values) == ["sgd", "adam", "adamw"]
    # without weight decay Adam and AdamW are the same optimizer
    np.testing.assert_array_equal(ds["W_final"].sel(optimizer="adam"), ds["W_final"].sel(optimizer="adamw"))
    assert not np.array_equal(ds["W_final"].sel(optimizer="sgd"), ds["W_final"].sel(optimizer="adam"))


def test_base_states_from_a_file_round_trip_bit_exactly(tmp_path, write_config):
    source = tmp_path / "pop.h5"
    run_aesweep("run", write_config(SMALL), "-o", source, "--quiet")
    copy = write_config(f"""
init  = {{ scheme = "file"; file = "{source}"; select = "all"; }};
train = {{ steps = 0; }};
""", "copy.cfg")
    out = tmp_path / "copy.h5"
    run_aesweep("run", copy, "-o", out, "--quiet")
    ds, src = xr.open_dataset(out, engine="h5netcdf"), xr.open_dataset(source, engine="h5netcdf")
    assert ds["outcome"].dims == ("base",)
    assert list(ds["base"].values) == list(range(30))
    assert np.array_equal(ds["W_final"].values, src["W_final"].values.reshape(30, 5, 2))
    assert np.array_equal(ds["b_final"].values, src["b_final"].values.reshape(30, 5))


def test_base_states_selected_by_outcome(tmp_path, write_config):
    source = tmp_path / "ideal.h5"
    run_aesweep("run", write_config("""
init  = { scheme = "ideal_failure"; };
train = { steps = 0; };
grid  = ( { param = "init.dead_eps"; values = [0.001, 0.002]; } );
""", "ideal.cfg"), "-o", source, "--quiet")
    chaos = write_config(f"""
init    = {{ scheme = "file"; file = "{source}"; select = "first:symmetric_failure"; }};
perturb = {{ features = "dead_neighbors"; }};
train   = {{ optimizer = "sgd"; weight_decay = 0.0; steps = 0; }};
grid    = ( {{ param = "perturb.bias_delta"; values = [0.0, 0.1]; }} );
""", "chaos.cfg")
    out = tmp_path / "chaos.h5"
    run_aesweep("run", chaos, "-o", out, "--quiet")
    with h5py.File(source) as src, h5py.File(out) as f:
        assert "base" not in f  # one base state: no base axis
        b0, b1 = f["b_final"][0], f["b_final"][1]
        assert np.array_equal(b0, src["b_final"][0])
        # delta lands on the two neighbours of the dead feature 6: features 5 and 0
        np.testing.assert_allclose(b1 - b0, [0.1, 0, 0, 0, 0, 0.1, 0], atol=1e-6)
    proc = run_aesweep("run", write_config(chaos.read_text().replace("first:symmetric_failure", "all:perfect"),
                                           "none.cfg"), "-o", tmp_path / "none.h5", check=False)
    assert proc.returncode == 2 and "no run" in proc.stderr


def test_info_reports_progress_and_outcomes(tmp_path, write_config):
    out = tmp_path / "out.h5"
    run_aesweep("run", write_config(SMALL), "-o", out, "--quiet")
    text = run_aesweep("info", out).stdout
    assert "30 / 30" in text and "by lr" in text and "perfect" in text
    assert "by seed" not in text and "seed: 6 replicates, pooled in every row" in text  # no row per seed
    proc = run_aesweep("info", tmp_path / "missing.h5", check=False)
    assert proc.returncode == 1 and "missing.h5" in proc.stderr


BAD = sorted((REPO / "tests" / "configs" / "bad").glob("*.cfg"))


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_config_is_a_clear_error(tmp_path, path):
    expect = re.match(r"# expect: (.*)", path.read_text()).group(1)
    proc = run_aesweep("run", path, "-o", tmp_path / "out.h5", check=False)
    assert proc.returncode == 2, proc.stderr
    assert path.name in proc.stderr and expect in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") <= 3 and not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize("setting, message", [
    ("train.weight_decay=inf", "--set train.weight_decay: value must be finite"),
    ("train.beta1=nan", "--set train.beta1: value must be finite"),
    ("train.steps=fast", "--set train.steps: \"fast\" is not a number"),
    ("train.speed=1", "--set train.speed: unknown key (`aesweep --help`"),
    ("model.nn=5", "--set model.nn: unknown key (did you mean model.n?"),
    ("init.fille=x.h5", "--set init.fille: unknown key (did you mean init.file?"),
    ("train.lr", "expects KEY=VALUE"),
    ("model.n=1", "--set model.n: 1 is out of range"),
    ("train.optimizer=adagrad", "--set train.optimizer: expects one of"),
    ("init.seed=3", "--set init.seed: is a grid axis"),
])
def test_bad_set_is_a_clear_error(tmp_path, write_config, setting, message):
    proc = run_aesweep("run", write_config(SMALL), "-o", tmp_path / "out.h5", "--set", setting, check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_command_line_usage():
    help_text = run_aesweep("--help").stdout
    for word in ["run CONFIG", "info", "merge", "bench", "--resume", "train.lr", "perturb.bias_delta", "exit codes"]:
        assert word in help_text
    assert run_aesweep("--version").stdout.startswith("aesweep ")
    for args in [[], ["frobnicate"], ["run"], ["run", "sweeps/quickstart.cfg"], ["run", "x.cfg", "-o"],
                 ["run", "sweeps/quickstart.cfg", "-o", "x.h5", "--shard", "3/3"],
                 ["run", "sweeps/quickstart.cfg", "-o", "x.h5", "--threads", "0"]]:
        proc = run_aesweep(*args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
    proc = run_aesweep("run", "no/such.cfg", "-o", "x.h5", check=False)
    assert proc.returncode == 2 and "no/such.cfg" in proc.stderr


def test_unwritable_output_is_a_runtime_error(tmp_path, write_config):
    proc = run_aesweep("run", write_config(SMALL), "-o", tmp_path / "no" / "such" / "dir" / "out.h5", check=False)
    assert proc.returncode == 1 and "cannot create" in proc.stderr


def test_shipped_sweeps_are_valid_configs(tmp_path):
    for cfg in sorted((REPO / "sweeps").glob("*.cfg")):
        proc = run_aesweep("run", cfg, "-o", tmp_path / "x.h5", "--set", "train.steps=0", "--shard", "0/100000000",
                           "--quiet", "--force", check=False)
        assert proc.returncode in (0, 2), proc.stderr
        assert proc.returncode == 0 or "init.file" in proc.stderr, (cfg, proc.stderr)


def test_trajectories_end_where_the_sweep_ends(tmp_path, write_config):
    cfg = write_config(SMALL.replace("train =", "trajectory = { every = 100; runs = [0, 13]; };\ntrain ="))
    out = tmp_path / "traj.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    traj = xr.open_dataset(out, engine="h5netcdf", group="trajectory")
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert list(traj["run"].values) == [0, 13] and list(traj["step"].values) == [0, 100, 200, 300, 400]
    assert traj["W"].dims == ("run", "step", "feature", "latent")
    for k, run in enumerate([0, 13]):
        lr_index, seed_index = divmod(run, 6)
        assert np.array_equal(traj["W"].values[k, -1], ds["W_final"].values[lr_index, seed_index])
        assert np.array_equal(traj["b"].values[k, -1], ds["b_final"].values[lr_index, seed_index])
        assert traj["loss"].values[k, -1] == ds["loss"].values[lr_index, seed_index]
    assert traj["loss"].values[1, -1] < traj["loss"].values[1, 0] / 100  # lr 1e-2 from a random start: it learns


def cpu_flags():
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


CPU_FLAG = {"avx2": "avx2", "avx512": "avx512f"}  # --isa name: the /proc/cpuinfo flag it needs


def isa_device(path):
    with h5py.File(path, "r") as f:
        device = f.attrs["device"]
    return device.decode() if isinstance(device, bytes) else device


@pytest.mark.parametrize("isa", ["avx2", "avx512"])
def test_every_cpu_instruction_set_gives_the_bits_of_the_scalar_code(tmp_path, write_config, isa):
    """A vector set this CPU has runs (the file's device names it) and gives exactly the bits
    of the scalar build (--isa baseline), variable by variable."""
    if CPU_FLAG[isa] not in cpu_flags():
        pytest.skip(f"this CPU has no {isa}: its lanes cannot run here")
    cfg = write_config(SMALL)
    for name in ("baseline", isa):
        run_aesweep("run", cfg, "-o", tmp_path / f"{name}.h5", "--quiet", "--isa", name, "--backend", "cpu")
        assert f", {name} x16 lanes" in isa_device(tmp_path / f"{name}.h5")
    assert_same_data(tmp_path / "baseline.h5", tmp_path / f"{isa}.h5")


def test_an_instruction_set_the_cpu_lacks_is_refused(tmp_path, write_config):
    """--isa names a set this CPU lacks: refused (exit 1, no file), never replaced by another."""
    lacking = [isa for isa, flag in CPU_FLAG.items() if flag not in cpu_flags()]
    if not lacking:
        pytest.skip("this CPU has every instruction set aesweep builds lanes for")
    proc = run_aesweep("run", write_config(SMALL), "-o", tmp_path / "x.h5", "--quiet", "--isa", lacking[0],
                       "--backend", "cpu", check=False)
    assert proc.returncode == 1 and f"--isa {lacking[0]}" in proc.stderr, proc.stderr
    assert not (tmp_path / "x.h5").exists()


def test_unknown_instruction_set_is_a_usage_error(tmp_path, write_config):
    proc = run_aesweep("run", write_config(SMALL), "-o", tmp_path / "x.h5", "--isa", "sse9", check=False)
    assert proc.returncode == 2 and "--isa sse9" in proc.stderr


@pytest.mark.parametrize("extra", [[], ["--threads", "1"]], ids=["no_run_options", "run_options"])
def test_slurm_array_script_shards_then_merges(tmp_path, write_config, extra):
    cfg, log = write_config(SMALL), tmp_path / "sbatch.log"
    env = {"PATH": f"{REPO / 'tests' / 'e2e' / 'fake_slurm'}:/usr/bin:/bin", "FAKE_SLURM_LOG": str(log),
           "SBATCH_OPTIONS": "--partition=test"}
    import os
    import subprocess
    proc = subprocess.run(["bash", str(REPO / "sweeps" / "slurm_array.sh"), str(cfg), str(tmp_path / "out.h5"), "3",
                           *extra], cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    assert "--array=0-2" in calls[0] and "--partition=test" in calls[0] and "--dependency=afterok:" in calls[1]
    run_aesweep("run", cfg, "-o", tmp_path / "full.h5", "--quiet")
    assert_same_data(tmp_path / "out.h5", tmp_path / "full.h5")


def test_twins_measure_how_runs_separate(tmp_path, write_config):
    cfg = write_config("""
model = { n = 7; };
init  = { scheme = "ideal_failure"; };
perturb = { features = "dead_neighbors"; bias_delta = 0.05; };
train = { steps = 2000; weight_decay = 0.0; };
grid  = ( { param = "twin.eps"; values = [0.0, 1e-4]; },
          { param = "train.lr"; values = [0.0, 1e-3, 3e-2]; } );
""")
    out = tmp_path / "twins.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    ds = xr.open_dataset(out, engine="h5netcdf")
    distance, lyapunov = ds["twin_distance"], ds["lyapunov"]
    assert (distance.sel(twin_eps=0.0).values == 0).all()          # eps = 0: the twin is the run
    assert np.isnan(lyapunov.sel(twin_eps=0.0).values).all()
    moved = distance.sel(twin_eps=1e-4)
    np.testing.assert_allclose(moved.sel(lr=0.0), 1e-4, rtol=1e-3)  # lr 0: nothing moves
    assert abs(float(lyapunov.sel(twin_eps=1e-4, lr=0.0))) < 1e-6   # ... so its exponent is 0
    assert (lyapunov.sel(twin_eps=1e-4, lr=[1e-3, 3e-2]).values > 0).all()
    # the twin's own record: lr 0 moves nothing, so the twin ends where its run ends
    np.testing.assert_array_equal(ds["twin_outcome"].sel(lr=0.0), ds["outcome"].sel(lr=0.0))
    assert ds["twin_outcome"].attrs["flag_meanings"] == ds["outcome"].attrs["flag_meanings"]
    assert set(np.unique(ds["twin_recovered"])) <= {0, 1}


def test_lyapunov_stable_failure_and_mixed_region(tmp_path, write_config):
    """Benettin's exponent (renormalised every 100 steps): SGD rests in the symmetric
    ideal failure (twins contract, or drift along its rotation symmetry: <= 0); AdamW at
    high lr from the same state, with delta, is the speckled region of the chaos map (> 0)."""
    cfg = write_config("""
model = { n = 7; };
init  = { scheme = "ideal_failure"; };
perturb = { features = "dead_neighbors"; bias_delta = 0.1; };
train = { steps = 4000; weight_decay = 0.0; };
twin  = { eps = 1e-4; };
grid  = ( { param = "train.optimizer"; values = ["sgd", "adamw"]; },
          { param = "train.lr"; values = [0.05, 0.08]; } );
""")
    out = tmp_path / "lyapunov.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    ds = xr.open_dataset(out, engine="h5netcdf")
    lyapunov = ds["lyapunov"]
    assert (ds["outcome"].sel(optimizer="sgd") == 1).all()          # symmetric failure, at rest
    assert (lyapunov.sel(optimizer="sgd").values <= 0).all(), lyapunov.values
    assert (lyapunov.sel(optimizer="adamw").values > 0.01).all(), lyapunov.values
    # renormalised: the twin stays near eps of its run after the last renormalisation
    assert (ds["twin_distance"].sel(optimizer="sgd").values < 2e-4).all()


@pytest.mark.parametrize("relative", [False, True])
def test_setting_twin_is_the_run_at_the_moved_setting(tmp_path, write_config, relative):
    """A setting twin (twin.param) of a run with bias_delta x is the run with bias_delta
    x + eps (or x (1 + eps)): trained alone, that run ends where the twin ends.  Values
    exact in float and double, so the moved setting is the same number either way."""
    base = """
model = { n = 7; };
init  = { scheme = "ideal_failure"; };
perturb = { features = "dead_neighbors"; };
train = { lr = 0.03; steps = 3000; };
"""
    eps, deltas = 2.0 ** -10, [0.0625, 0.09375, 0.125, 0.15625]
    moved = [d * (1 + eps) if relative else d + eps for d in deltas]
    grid = 'grid = ( { param = "perturb.bias_delta"; values = [%s]; } );\n'
    cfg = write_config(base + f'twin = {{ eps = {eps!r}; param = "perturb.bias_delta"; '
                       f'relative = {"true" if relative else "false"}; }};\n' + grid % ", ".join(map(repr, deltas)))
    alone_cfg = write_config(base + grid % ", ".join(map(repr, moved)), name="moved.cfg")
    run_aesweep("run", cfg, "-o", tmp_path / "twins.h5", "--quiet")
    run_aesweep("run", alone_cfg, "-o", tmp_path / "alone.h5", "--quiet")
    ds = xr.open_dataset(tmp_path / "twins.h5", engine="h5netcdf")
    alone = xr.open_dataset(tmp_path / "alone.h5", engine="h5netcdf")
    np.testing.assert_array_equal(ds["twin_outcome"].values, alone["outcome"].values)
    np.testing.assert_array_equal(ds["twin_recovered"].values, alone["recovered"].values)
    gap = np.concatenate([(ds["W_final"].values - alone["W_final"].values).reshape(len(deltas), -1),
                          ds["b_final"].values - alone["b_final"].values], axis=1).astype(np.float64)
    np.testing.assert_allclose(ds["twin_distance"].values, np.sqrt((gap ** 2).sum(axis=1)), rtol=1e-6)
    assert (ds["twin_distance"].values > 0).all()                    # the twin is another run
    assert np.isnan(ds["lyapunov"].values).all()                     # no state separation to renormalise


def test_interventions_run_and_change_failed_runs(tmp_path, write_config):
    cfg = write_config("""
model = { n = 7; };
init  = { scheme = "ideal_failure"; };
perturb = { bias_delta = 0.1; features = "dead_neighbors"; };
train = { steps = 2; lr = 1e-4; };
intervene = { at_step = 1; delta = 0.1; };
grid  = ( { param = "intervene.method"; values = ["none", "anthropic", "repulsor"]; } );
""")
    # One step from the exactly symmetric hexagon (whose feature sum is 0: the literal repulsor
    # has no direction there) with two biases nudged makes the live features' sum point
    # somewhere; then the interventions, then one step of 1e-4.
    out = tmp_path / "resample.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    ds = xr.open_dataset(out, engine="h5netcdf")
    norm = ds["norm"].sel(feature=6)
    assert float(norm.sel(intervention="none")) < 2e-3                    # the dead feature as it was
    np.testing.assert_allclose(float(norm.sel(intervention="anthropic")), 0.2 * np.sqrt(2) * 1.01, rtol=1e-3)
    np.testing.assert_allclose(float(norm.sel(intervention="repulsor")), 0.05 * np.sqrt(2) * 1.01, rtol=0.1)
    b_dead = float(ds["b_final"].sel(intervention="anthropic", feature=6))
    assert 0 < abs(b_dead) <= 1.5e-4  # reset from 1/7 to 0, then one Adam step of about lr


def test_gap_places_the_dead_feature_where_the_repulsor_cannot(tmp_path, write_config):
    """The exact hexagon of the ideal failure: its live sum is 0, so the literal repulsor does
    nothing; gap puts the dead feature at 0.05 x the radius on the bisector of two angular
    neighbours, raises their two biases by delta and leaves b_dead (lr 0: nothing else moves)."""
    cfg = write_config("""
model = { n = 7; };
init  = { scheme = "ideal_failure"; };
train = { optimizer = "sgd"; lr = 0.0; steps = 1; };
intervene = { at_step = 0; delta = 0.1; noise = 0.0; };
grid  = ( { param = "intervene.method"; values = ["repulsor", "gap"]; } );
""")
    out = tmp_path / "gap.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    ds = xr.open_dataset(out, engine="h5netcdf")
    radius = np.sqrt(2) * 1.01
    repulsor, gap = ds.sel(intervention="repulsor"), ds.sel(intervention="gap")
    np.testing.assert_allclose(float(repulsor["norm"].sel(feature=6)), 1e-3, rtol=1e-5)  # as it was
    np.testing.assert_allclose(float(gap["norm"].sel(feature=6)), 0.05 * radius, rtol=1e-5)
    assert float(gap["b_final"].sel(feature=6)) == float(repulsor["b_final"].sel(feature=6)) == np.float32(1 / 7)
    raised = np.flatnonzero(gap["b_final"].values[:6] != repulsor["b_final"].values[:6])
    assert len(raised) == 2 and (raised[1] - raised[0]) in (1, 5), raised     # two angular neighbours
    np.testing.assert_allclose(gap["b_final"].values[raised] - repulsor["b_final"].values[raised], 0.1, rtol=1e-5)
    W = gap["W_final"].values
    angle = lambda i: np.arctan2(W[i, 1], W[i, 0])
    a, b = angle(raised[0]), angle(raised[1])
    bisector = np.angle(np.exp(1j * a) + np.exp(1j * b))
    assert abs(np.angle(np.exp(1j * (angle(6) - bisector)))) < 1e-5


def test_large_integers_are_read_exactly(tmp_path, write_config):
    cfg = write_config("""
init  = { seed = 5000000000; };
train = { steps = 0; };
grid  = ( { param = "init.seed"; values = [3000000000, 4000000000]; }, { param = "train.lr"; values = [1e-3, 1]; } );
""")
    out = tmp_path / "big.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert list(ds["seed"].values) == [3000000000, 4000000000] and list(ds["lr"].values) == [1e-3, 1.0]


def test_the_aesweep_command_after_install(tmp_path):
    """`pip install -e .` (make deps) puts an `aesweep` command on the PATH that runs the
    engine built here; `make install PREFIX=...` copies the binary (issue 24)."""
    command = shutil.which("aesweep")
    assert command, "no aesweep on the PATH: make deps runs pip install -e ."
    want = run_aesweep("--version").stdout
    got = subprocess.run([command, "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert got.returncode == 0 and got.stdout == want, got.stderr
    proc = subprocess.run(["make", "-s", "install", f"PREFIX={tmp_path / 'prefix'}"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    installed = tmp_path / "prefix" / "bin" / "aesweep"
    assert subprocess.run([installed, "--version"], capture_output=True, text=True).stdout == want
