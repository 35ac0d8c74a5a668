"""Sample axes (DESIGN.md section 5): points drawn from Philox, jointly over several
settings, as one dimension `sample` with the settings as its coordinates."""
import h5py
import numpy as np
import pytest
import xarray as xr
from e2e_support import run_aesweep
from test_cli import assert_same_data

BASE = """model   = { n = 5; m = 2; };
init    = { scheme = "ideal_failure"; seed = 0; };
perturb = { bias_delta = 0.0; features = "dead_neighbors"; };
train   = { optimizer = "adamw"; lr = 1e-3; steps = 150; };
"""
SAMPLE = """grid = ( { sample = %d; seed = %d;
            params = ( { param = "train.lr"; loguniform = [-1.5, -1.0]; },
                       { param = "perturb.bias_delta"; uniform = [0.0, 0.2]; } ); }%s );
"""


def sweep(count=24, seed=1, more=""):
    return BASE + SAMPLE % (count, seed, more)


def coords(path):
    with h5py.File(path) as f:
        return f["lr"][()], f["bias_delta"][()]


def test_sample_axis_is_one_dimension_with_the_settings_as_coordinates(tmp_path, write_config):
    out = tmp_path / "out.h5"
    run_aesweep("run", write_config(sweep(more=', { param = "init.seed"; range = [0, 2]; }')), "-o", out, "--quiet")
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert ds["outcome"].dims == ("sample", "seed") and ds["W_final"].dims == ("sample", "seed", "feature", "latent")
    assert ds["sample"].values.tolist() == list(range(24))
    for name in ["lr", "bias_delta"]:
        assert name in ds.coords and ds[name].dims == ("sample",) and ds[name].dtype == np.float64
        assert "units" not in ds[name].attrs and ds[name].attrs["long_name"]  # dimensionless
    lr, delta = ds["lr"].values, ds["bias_delta"].values
    assert ((10 ** -1.5 <= lr) & (lr <= 0.1)).all() and ((0 <= delta) & (delta <= 0.2)).all()
    assert len(set(lr.tolist())) == 24 and len(set(delta.tolist())) == 24
    import aesweep
    opened = aesweep.open(str(out))
    assert opened["lr"].dims == ("sample",) and "lr" in opened.coords
    assert "sample[24" in run_aesweep("info", out).stdout


def test_points_depend_only_on_the_axis_seed_and_the_point(tmp_path, write_config):
    run_aesweep("run", write_config(sweep(24, 1), "a.cfg"), "-o", tmp_path / "a.h5", "--set", "train.steps=0", "--quiet")
    run_aesweep("run", write_config(sweep(24, 1), "b.cfg"), "-o", tmp_path / "b.h5", "--set", "train.steps=0", "--quiet")
    run_aesweep("run", write_config(sweep(10, 1), "c.cfg"), "-o", tmp_path / "c.h5", "--set", "train.steps=0", "--quiet")
    run_aesweep("run", write_config(sweep(24, 2), "d.cfg"), "-o", tmp_path / "d.h5", "--set", "train.steps=0", "--quiet")
    a, b, c, d = (coords(tmp_path / f"{k}.h5") for k in "abcd")
    assert all(np.array_equal(x, y) for x, y in zip(a, b))  # reproducible
    assert all(np.array_equal(x[:10], y) for x, y in zip(a, c))  # a prefix: no dependence on the count
    assert not np.intersect1d(a[0], d[0]).size  # another seed, other points


def test_sample_axis_across_shards_and_threads(tmp_path, write_config):
    cfg = write_config(sweep(30))
    run_aesweep("run", cfg, "-o", tmp_path / "one.h5", "--threads", "1", "--quiet")
    run_aesweep("run", cfg, "-o", tmp_path / "two.h5", "--threads", "2", "--quiet")
    assert_same_data(tmp_path / "one.h5", tmp_path / "two.h5")
    shards = [tmp_path / f"shard{k}.h5" for k in range(2)]
    for k, shard in enumerate(shards):
        run_aesweep("run", cfg, "-o", shard, "--shard", f"{k}/2", "--quiet")
    run_aesweep("merge", tmp_path / "merged.h5", *shards)
    assert_same_data(tmp_path / "merged.h5", tmp_path / "one.h5")
    for path in [*shards, tmp_path / "merged.h5", tmp_path / "two.h5"]:
        assert all(np.array_equal(x, y) for x, y in zip(coords(path), coords(tmp_path / "one.h5")))


def test_each_run_trains_at_its_drawn_settings(tmp_path, write_config):
    run_aesweep("run", write_config(sweep(6), "sample.cfg"), "-o", tmp_path / "sample.h5", "--quiet")
    lr, delta = coords(tmp_path / "sample.h5")
    alone = write_config(BASE + "grid = ( { param = \"init.seed\"; values = [0]; } );\n", "alone.cfg")
    with h5py.File(tmp_path / "sample.h5") as f:
        sampled = f["W_final"][()], f["b_final"][()]
    for k in (0, 4):
        out = tmp_path / f"alone{k}.h5"
        run_aesweep("run", alone, "-o", out, "--set", f"train.lr={float(lr[k])!r}", "--set", f"perturb.bias_delta={float(delta[k])!r}",
                    "--quiet")
        with h5py.File(out) as f:
            assert np.array_equal(f["W_final"][0], sampled[0][k]) and np.array_equal(f["b_final"][0], sampled[1][k])


def test_loguniform_is_uniform_in_the_exponent(tmp_path, write_config):
    """Kolmogorov-Smirnov distance of 4000 points against the uniform law: the exponents
    of lr on [-1.5, -1.0] and bias_delta on [0, 0.2] (critical value at 1 %: 1.63 / sqrt(n))."""
    out = tmp_path / "ks.h5"
    run_aesweep("run", write_config(sweep(4000)), "-o", out, "--set", "train.steps=0", "--quiet")
    lr, delta = coords(out)
    for u in ((np.log10(lr) + 1.5) / 0.5, delta / 0.2):
        u = np.sort(u)
        n = u.size
        ks = max(np.max(np.arange(1, n + 1) / n - u), np.max(u - np.arange(n) / n))
        assert ks < 1.63 / np.sqrt(n), ks
    # and not uniform in lr itself: its median is the geometric midpoint
    assert np.median(lr) == pytest.approx(10 ** -1.25, rel=0.03)


@pytest.mark.parametrize("axis, words", [
    ('{ sample = 8; params = ( { param = "train.lr"; loguniform = [0.001, 0.1]; } ); }',
     ["bad.cfg:6:", "train.lr", "exponents of 10", "loguniform = [-3, -1]"]),
    ('{ sample = 8; params = ( { param = "init.seed"; uniform = [0.0, 5.0]; } ); }', ["bad.cfg:6:", "init.seed", "not real"]),
    ('{ sample = 8; params = ( { param = "train.lr"; uniform = [0.1, 0.01]; } ); }', ["bad.cfg:6:", "train.lr", "empty range"]),
    ('{ sample = 8; params = ( { param = "train.lr"; uniform = [-1.0, 0.1]; } ); }', ["bad.cfg:6:", "train.lr", "out of range"]),
    ('{ sample = 0; params = ( { param = "train.lr"; uniform = [0.0, 0.1]; } ); }', ["bad.cfg:6:", "sample.sample", "integer"]),
    ('{ sample = 8; seeds = 1; params = ( { param = "train.lr"; uniform = [0.0, 0.1]; } ); }',
     ["bad.cfg:6:", "sample.seeds", "unknown key"]),
    ('{ sample = 8; params = ( { param = "train.lr"; uniform = [0.0, 0.1]; normal = 1; } ); }',
     ["bad.cfg:6:", "params[0].normal", "unknown key"]),
    ('{ sample = 8; }', ["bad.cfg:6:", "missing params"]),
    ('{ sample = 8; params = ( { param = "train.lr"; uniform = [0.0, 0.1]; } ); }, { param = "train.lr"; values = [0.1]; }',
     ["bad.cfg:6:", "train.lr", "already an axis"]),
    ('{ sample = 8; params = ( { param = "train.lr"; uniform = [0.0, 0.1]; } ); }, '
     '{ sample = 8; params = ( { param = "train.momentum"; uniform = [0.0, 0.1]; } ); }', ["bad.cfg:6:", "one sample axis"]),
])
def test_sample_axis_errors_name_file_line_and_key(tmp_path, write_config, axis, words):
    cfg = write_config(BASE + "\ngrid = ( " + axis + " );\n", "bad.cfg")
    proc = run_aesweep("run", cfg, "-o", tmp_path / "x.h5", check=False)
    assert proc.returncode == 2 and "bad.cfg" in proc.stderr, proc.stderr
    for word in words:
        assert word in proc.stderr, (word, proc.stderr)
    assert not (tmp_path / "x.h5").exists()


def test_set_refuses_a_sampled_setting(tmp_path, write_config):
    proc = run_aesweep("run", write_config(sweep()), "-o", tmp_path / "x.h5", "--set", "train.lr=0.01", check=False)
    assert proc.returncode == 2 and "grid axis" in proc.stderr


def test_trajectory_select_cannot_pick_a_sample_point(tmp_path, write_config):
    cfg = write_config(sweep() + "trajectory = { every = 50; select = { sample = 3; }; };\n")
    proc = run_aesweep("run", cfg, "-o", tmp_path / "x.h5", check=False)
    assert proc.returncode == 2 and "sample axis" in proc.stderr and "trajectory.runs" in proc.stderr, proc.stderr
    cfg = write_config(sweep() + "trajectory = { every = 50; runs = [3]; };\n", "runs.cfg")
    run_aesweep("run", cfg, "-o", tmp_path / "y.h5", "--set", "train.steps=100", "--quiet")
