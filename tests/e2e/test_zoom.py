"""--grid PARAM=SPEC, `aesweep zoom`, the warning for an axis no run uses, a config on
standard input, and what xarray reads from a file (issue 24)."""
import subprocess

import h5py
import numpy as np
import pytest
import xarray as xr

from e2e_support import AESWEEP, REPO, run_aesweep

MAP = """
model = { n = 5; m = 2; };
train = { optimizer = "adamw"; lr = 1e-2; steps = 300; };
perturb = { features = "dead_neighbors"; };
grid = ( { param = "train.lr"; logspace = [-3.0, -1.0, 4]; },
         { param = "perturb.bias_delta"; linspace = [0.0, 0.2, 3]; } );
"""


def open_ds(path):
    return xr.open_dataset(path, engine="h5netcdf")


def make_map(tmp_path, write_config, *extra):
    out = tmp_path / "map.h5"
    run_aesweep("run", write_config(MAP), "-o", out, "--quiet", *extra)
    return out


def test_grid_replaces_an_axis_in_place_and_appends_a_new_one(tmp_path, write_config):
    out = tmp_path / "g.h5"
    run_aesweep("run", write_config(MAP), "-o", out, "--quiet", "--grid", "lr=values:0.001,0.01",
                "--grid", "init.seed=range:0:3", "--grid", "perturb.bias_delta=linspace:0:0.1:2")
    with open_ds(out) as ds:
        assert [d for d in ds["outcome"].dims] == ["lr", "bias_delta", "seed"]
        assert ds["lr"].values.tolist() == [0.001, 0.01]
        assert ds["bias_delta"].values.tolist() == [0.0, 0.1] and ds["seed"].values.tolist() == [0, 1, 2]
    with h5py.File(out) as f:
        assert [s.decode() if isinstance(s, bytes) else s for s in f.attrs["overrides"]] == [
            "--grid lr=values:0.001,0.01", "--grid init.seed=range:0:3", "--grid perturb.bias_delta=linspace:0:0.1:2"]


def test_grid_logspace_and_named_values(tmp_path, write_config):
    out = tmp_path / "g.h5"
    run_aesweep("run", write_config(MAP), "-o", out, "--quiet", "--grid", "train.lr=logspace:-4:-2:3",
                "--grid", "optimizer=values:adam,adamw")
    with open_ds(out) as ds:
        np.testing.assert_allclose(ds["lr"].values, [1e-4, 1e-3, 1e-2], rtol=1e-15)
        assert ds["optimizer"].values.tolist() == ["adam", "adamw"]


@pytest.mark.parametrize("grid, message", [
    ("train.lr", "--grid train.lr: expects PARAM=SPEC"),
    ("train.lr=geomspace:1:2:3", "SPEC is one of linspace:A:B:N"),
    ("train.lrr=linspace:0:1:3", "unknown key (did you mean train.lr?"),
    ("init.file=values:a.h5", "init.file is not numeric"),
    ("train.lr=logspace:0.0001:0.1:8", "logspace bounds are exponents of 10"),
    ("train.lr=linspace:0:1:0", "empty axis"),
    ("train.lr=linspace:a:b:3", "cannot read the values"),
    ("train.optimizer=values:adagrad", "expects one of"),
    ('train.lr=values:1"; x = "2', "cannot read the values"),
])
def test_bad_grid_is_a_usage_error_naming_the_argument(tmp_path, write_config, grid, message):
    proc = run_aesweep("run", write_config(MAP), "-o", tmp_path / "x.h5", "--grid", grid, check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "x.h5").exists()


def test_set_of_a_grid_member_points_to_grid(tmp_path, write_config):
    proc = run_aesweep("run", write_config(MAP), "-o", tmp_path / "x.h5", "--set", "grid[0].logspace=[-4.0,-1.0,256]",
                       check=False)
    assert proc.returncode == 2 and "the grid changes with --grid PARAM=SPEC" in proc.stderr, proc.stderr


def test_grid_of_a_sampled_setting_is_refused(tmp_path, write_config):
    cfg = write_config("model = { n = 5; m = 2; };\ntrain = { steps = 50; };\n"
                       "grid = ( { sample = 4; seed = 1; params = ( { param = \"train.lr\"; "
                       "loguniform = [-3.0, -2.0]; } ); } );\n")
    proc = run_aesweep("run", cfg, "-o", tmp_path / "x.h5", "--grid", "lr=values:0.1", check=False)
    assert proc.returncode == 2 and "drawn by the sample axis" in proc.stderr, proc.stderr


def test_zoom_trains_the_maps_runs_at_other_points(tmp_path, write_config):
    """A zoom keeps every setting of the map, --set overrides included: at a point the map has
    too, the zoom's run is the map's run, bit for bit."""
    source = make_map(tmp_path, write_config, "--set", "train.steps=200")
    zoom = tmp_path / "zoom.h5"
    run_aesweep("zoom", source, "-o", zoom, "--quiet", "--grid", "lr=values:0.001,0.0015",
                "--grid", "bias_delta=linspace:0.1:0.2:2")
    with open_ds(source) as big, open_ds(zoom) as small:
        assert small["lr"].values.tolist() == [0.001, 0.0015]
        assert small.attrs["config_path"] == str(source)
        assert "train.steps=200" in small.attrs["config"]
        for name in ("W_final", "b_final", "loss", "outcome"):
            here = small[name].sel(lr=0.001).values
            there = big[name].sel(lr=0.001, bias_delta=[0.1, 0.2]).values
            assert np.array_equal(here, there, equal_nan=True), name
        assert not np.array_equal(small["W_final"].sel(lr=0.0015).values, small["W_final"].sel(lr=0.001).values)
    # the zoom's own overrides come after the map's: a zoom of the zoom keeps both
    again = tmp_path / "again.h5"
    run_aesweep("zoom", zoom, "-o", again, "--quiet", "--grid", "lr=values:0.001")
    with open_ds(again) as ds, open_ds(zoom) as small:
        assert ds["bias_delta"].values.tolist() == [0.1, 0.2]
        assert np.array_equal(ds["W_final"].values, small["W_final"].sel(lr=[0.001]).values)


def test_zoom_resume_and_refusals(tmp_path, write_config):
    source = make_map(tmp_path, write_config)
    zoom = tmp_path / "zoom.h5"
    args = ["zoom", source, "-o", zoom, "--quiet", "--grid", "lr=values:0.002,0.003", "--resume"]
    run_aesweep(*args)
    assert run_aesweep(*args).returncode == 0  # the same command line finishes (here: has finished) it
    proc = run_aesweep("zoom", source, "-o", source, "--grid", "lr=values:0.1", "--force", check=False)
    assert proc.returncode == 2 and "map zoomed into" in proc.stderr, proc.stderr
    not_ours = tmp_path / "plain.h5"
    with h5py.File(not_ours, "w") as f:
        f["x"] = [1]
    proc = run_aesweep("zoom", not_ours, "-o", tmp_path / "z.h5", check=False)
    assert proc.returncode == 2 and "not an aesweep output" in proc.stderr, proc.stderr
    proc = run_aesweep("zoom", tmp_path / "missing.h5", "-o", tmp_path / "z.h5", check=False)
    assert proc.returncode == 2, proc.stderr
    proc = run_aesweep("zoom", "-o", tmp_path / "z.h5", check=False)
    assert proc.returncode == 2 and "zoom: missing MAP.h5" in proc.stderr


def test_zoom_reads_the_overrides_of_files_from_before_the_overrides_attribute(tmp_path, write_config):
    source = make_map(tmp_path, write_config, "--set", "train.steps=120")
    with h5py.File(source, "a") as f:  # as an earlier aesweep wrote them
        del f.attrs["overrides"]
        text = f.attrs["config"]
        text = text.decode() if isinstance(text, bytes) else text
        base = text[:text.index("\n# command-line overrides")]
        f.attrs["config"] = base + "\n# --set overrides:\ntrain.steps=120\n"
    zoom = tmp_path / "zoom.h5"
    run_aesweep("zoom", source, "-o", zoom, "--quiet", "--grid", "lr=values:0.001")
    with open_ds(source) as big, open_ds(zoom) as small:
        assert '"train.steps": 120' in small.attrs["config_json"]
        assert np.array_equal(small["W_final"].values, big["W_final"].sel(lr=[0.001]).values)


def test_an_axis_no_run_uses_is_a_loud_warning(tmp_path, write_config):
    proc = run_aesweep("run", write_config(MAP.replace('features = "dead_neighbors";', "")), "-o",
                       tmp_path / "a.h5", "--quiet")
    assert "warning: axis bias_delta changes nothing" in proc.stderr and "perturb.features" in proc.stderr
    proc = run_aesweep("run", write_config(MAP), "-o", tmp_path / "b.h5", "--quiet", "--grid",
                       "train.momentum=values:0,0.9")
    assert "warning: axis momentum changes nothing" in proc.stderr and "here it is adamw" in proc.stderr, proc.stderr
    proc = run_aesweep("run", write_config(MAP), "-o", tmp_path / "c.h5", "--quiet", "--grid",
                       "train.momentum=values:0,0.9", "--grid", "optimizer=values:sgd,adamw")
    assert "warning" not in proc.stderr, proc.stderr


def test_config_on_standard_input(tmp_path):
    out = tmp_path / "s.h5"
    proc = subprocess.run([str(AESWEEP), "run", "-", "-o", str(out), "--quiet"], input=MAP, text=True,
                          capture_output=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    with open_ds(out) as ds:
        assert ds.attrs["config_path"] == "(standard input)" and ds.sizes["lr"] == 4
    proc = subprocess.run([str(AESWEEP), "run", "-", "-o", str(tmp_path / "t.h5")], input="model = { n = ; };",
                          text=True, capture_output=True, cwd=REPO)
    assert proc.returncode == 2 and "(standard input):1: syntax error" in proc.stderr, proc.stderr


def test_xarray_reads_integers_as_integers_and_no_empty_variables(tmp_path, write_config):
    out = tmp_path / "half.h5"
    run_aesweep("run", write_config(MAP), "-o", out, "--quiet", "--shard", "0/2")
    with open_ds(out) as ds:
        assert ds["done"].dtype == np.uint8 and set(np.unique(ds["done"].values)) == {0, 1}
        assert ds["outcome"].dtype == np.int8 and ds["plateau_kind"].dtype == np.int8
        assert (ds["outcome"].values[ds["done"].values == 0] == -1).all()
        assert "not done" in ds["outcome"].attrs["comment"]
        assert "units" not in ds["lr"].attrs and ds["first_perfect_step"].attrs["units"] == "step"
        for name in ("twin_outcome", "twin_distance", "lyapunov", "float64_outcome", "float64_loss"):
            assert name not in ds, name
        assert np.isnan(ds["loss"].values[ds["done"].values == 0]).all()  # real variables stay masked
    twin = tmp_path / "twin.h5"
    run_aesweep("run", write_config(MAP), "-o", twin, "--quiet", "--set", "twin.eps=1e-6", "--set", "check.float64=2")
    with open_ds(twin) as ds:
        for name in ("twin_outcome", "twin_distance", "lyapunov", "float64_outcome"):
            assert name in ds, name


def test_each_command_has_its_own_help():
    run_help = run_aesweep("run", "--help").stdout
    zoom_help = run_aesweep("zoom", "--help").stdout
    whole = run_aesweep("--help").stdout
    assert run_help.startswith("usage: aesweep run CONFIG") and "aesweep merge" not in run_help
    assert "--grid PARAM=SPEC" in run_help and "train.lr" in run_help
    assert zoom_help.startswith("usage: aesweep zoom MAP.h5") and "--grid PARAM=SPEC" in zoom_help
    assert "aesweep zoom MAP.h5" in whole and "aesweep merge" in whole and "train.lr" in whole


def test_progress_every_gives_plain_lines(tmp_path, write_config):
    proc = run_aesweep("run", write_config(MAP), "-o", tmp_path / "p.h5", "--progress-every", "0")
    assert any(line.startswith("aesweep: ") and "/12 runs" in line for line in proc.stderr.splitlines()), proc.stderr
    proc = run_aesweep("run", write_config(MAP), "-o", tmp_path / "q.h5", "--progress-every", "-1", check=False)
    assert proc.returncode == 2 and "--progress-every -1" in proc.stderr
