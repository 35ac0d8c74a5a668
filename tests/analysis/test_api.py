"""The Python front door: aesweep.run / aesweep.open, the census as a Dataset, the summary,
and colours fixed by name (issue 15). Uses the package as installed by `pip install -e .`
when it is, else the analysis/ folder itself."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

from aesweep import api, common, summary
from aesweep.census import census
from conftest import ENGINE, HERE, MODULE_ENV, ROOT

SMALL = {
    "model": {"n": 5, "m": 2},
    "train": {"steps": 200},
    "grid": [{"param": "train.lr", "logspace": [-3.0, -1.0, 3]}, {"param": "init.seed", "range": [0, 4]}],
}


def test_package_is_importable_as_aesweep():
    import aesweep

    assert os.path.samefile(os.path.dirname(aesweep.__file__), os.path.join(ROOT, "analysis", "aesweep"))
    assert callable(aesweep.run) and callable(aesweep.open) and callable(aesweep.summarize)


def test_the_package_has_one_name_and_the_summary_draws_nothing(tiny):
    """Imported as `aesweep` only (no `analysis.*` twin whose AnalysisError is another class),
    and the text summary of a file loads no plotting library."""
    script = ("import sys, aesweep, aesweep.common\n"
              "from aesweep import summary\n"
              f"assert summary.main([{tiny!r}]) == 0\n"
              "assert aesweep.AnalysisError is aesweep.common.AnalysisError\n"
              "twins = [m for m in sys.modules if m == 'analysis' or m.startswith('analysis.')]\n"
              "assert not twins, twins\n"
              "assert 'matplotlib' not in sys.modules, 'the text summary imported matplotlib'\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=MODULE_ENV, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "runs" in proc.stdout, proc.stdout


def test_run_dict_in_memory():
    ds = api.run(SMALL, engine=ENGINE)
    assert isinstance(ds, xr.Dataset) and common.grid_dims(ds) == ["lr", "seed"]
    assert ds.sizes == {"lr": 3, "seed": 4, "feature": 5, "latent": 2}
    assert int(ds["done"].sum()) == 12
    names = [n for _, n in common.outcome_classes(ds)]
    assert set(np.unique(ds["outcome_name"].values)) <= set(names)


def test_run_text_with_overrides_and_file(tmp_path):
    text = open(os.path.join(HERE, "tiny_chaos.cfg")).read()
    out = tmp_path / "chaos.h5"
    ds = api.run(text, out, overrides={"train.steps": 300, "trajectory.every": 100,
                                       "trajectory.select": {"lr": 0.01, "bias_delta": 0.2}}, engine=ENGINE)
    assert out.is_file() and int(ds["done"].sum()) == 20
    tr = api.open(out, group="trajectory")
    assert tr["run"].values.tolist() == [0, 9, 11] and tr["step"].values.tolist() == [0, 100, 200, 300]
    ds.close(), tr.close()  # HDF5 lets no writer in while a reader holds the file
    # the same file again: refused without force or resume, then replaced with force
    with pytest.raises(api.EngineError):
        api.run(text, out, engine=ENGINE)
    api.run(os.path.join(HERE, "tiny_chaos.cfg"), out, overrides=["train.steps=50"], force=True, engine=ENGINE)


def test_run_errors(tmp_path):
    with pytest.raises(api.EngineError) as e:
        api.run({"train": {"lr": -1.0}}, engine=ENGINE)
    assert e.value.returncode == 2 and "train.lr" in str(e.value)
    with pytest.raises(api.EngineError, match="engine not found"):
        api.run(SMALL, engine=tmp_path / "nope")
    with pytest.raises(FileNotFoundError):
        api.run("no/such.cfg", engine=ENGINE)


def test_libconfig_text_of_a_dict():
    text = api.config_text({"init": {"scheme": "file", "file": 'a "b".h5'},
                            "trajectory": {"every": 5, "select": [{"lr": 0.01}, {"lr": 1e-3}], "runs": [1, 2]},
                            "twin": {"relative": True}})
    assert text == ('init = { scheme = "file"; file = "a \\"b\\".h5"; };\n'
                    "trajectory = { every = 5; select = ( { lr = 0.01; }, { lr = 0.001; } ); runs = [1, 2]; };\n"
                    "twin = { relative = true; };\n")


def test_dict_configs_take_unicode_numpy_and_one_override_string(tmp_path):
    """A path with é reaches the engine as é (JSON's \\u00e9 it would not decode), NumPy
    values are numbers and arrays, a single "key=value" string is one override (issue 23)."""
    base = api.run(SMALL, tmp_path / "bäse é.h5", engine=ENGINE)
    base.close()
    config = {"model": {"n": np.int64(5), "m": 2}, "train": {"steps": np.int32(100), "lr": np.float64(0.01)},
              "init": {"scheme": "file", "file": str(tmp_path / "bäse é.h5"), "select": "all"},
              "grid": [{"param": "train.lr", "values": np.array([0.01, 0.02])}]}
    ds = api.run(config, engine=ENGINE, overrides="train.steps=50")
    assert ds.sizes["lr"] == 2 and ds.sizes["base"] == 12 and int(ds["done"].sum()) == 24
    assert common.config_value(ds, "train.steps") == 50
    assert common.config_value(ds, "init.file") == str(tmp_path / "bäse é.h5")
    assert api.libconfig_string('tab\there "q" \\ \x01') == '"tab\\there \\"q\\" \\\\ \\x01"'


def test_grid_zoom_progress_and_warnings(tmp_path, capfd):
    """grid= and aesweep.zoom give the axes asked for, the zoom's runs equal the map's where
    they meet, a tqdm bar shows the engine's progress, an axis no run uses warns (issue 24)."""
    source = api.run(SMALL, tmp_path / "map.h5", grid={"init.seed": ("range", 0, 2)}, progress=False, engine=ENGINE)
    assert source["seed"].values.tolist() == [0, 1] and source.attrs["config_path"] == "(standard input)"
    capfd.readouterr()
    fine = api.zoom(tmp_path / "map.h5", {"lr": [0.001, np.float64(0.002)]}, engine=ENGINE)
    assert fine["lr"].values.tolist() == [0.001, 0.002] and fine["seed"].values.tolist() == [0, 1]
    assert np.array_equal(fine["W_final"].sel(lr=0.001).values, source["W_final"].sel(lr=0.001).values)
    bar = capfd.readouterr().err
    assert "aesweep zoom" in bar and "4/4" in bar and "run" in bar, bar
    source.close()
    with pytest.warns(api.EngineWarning, match="axis momentum changes nothing"):
        api.run(SMALL, grid=["train.momentum=values:0,0.9"], progress=False, engine=ENGINE)
    assert api.grid_arguments({"lr": ("logspace", -3, -2, np.int64(8)), "optimizer": ["adam", "sgd"]}) == [
        "--grid", "lr=logspace:-3:-2:8", "--grid", "optimizer=values:adam,sgd"]
    with pytest.raises(api.EngineError, match="SPEC is one of"):
        api.zoom(tmp_path / "map.h5", "lr=geomspace:1:2:3", progress=False, engine=ENGINE)


@pytest.mark.parametrize("config", [5, None, 2.5, ["model"]])
def test_a_config_that_is_no_config_says_what_it_got(config):
    with pytest.raises(TypeError, match="config must be a path, libconfig text or a dict, not"):
        api.run(config, engine=ENGINE)


def test_open_while_a_sweep_writes(tmp_path):
    """aesweep.open reads a file whose writer is still running (and holds HDF5's lock)."""
    out = tmp_path / "busy.h5"
    cmd = [ENGINE, "run", os.path.join(ROOT, "sweeps", "quickstart.cfg"), "-o", str(out), "--quiet",
           "--set", "train.steps=200000", "--threads", "1"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while not out.is_file() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, "the sweep ended before the file could be read while written"
        ds = api.open(out)
        assert proc.poll() is None
        done = int(ds["done"].sum())
        assert 0 <= done < ds["done"].size
        assert (ds["outcome_name"].values[ds["done"].values == 0] == "not done").all()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def test_census_is_a_dataset(tiny):
    ds = api.open(tiny)
    t = census(ds, "lr")
    assert isinstance(t, xr.Dataset) and t["fraction"].dims == ("lr", "outcome")
    np.testing.assert_allclose(t["fraction"].sum("outcome"), 1.0)
    assert (t["count"].sum("outcome") == t["done"]).all()
    whole = census(ds)
    assert whole["done"].values.tolist() == [int(ds["done"].sum())]


def test_summary_numbers_come_from_the_file(tiny):
    ds = api.open(tiny)
    text = summary.summarize(ds, full=True)
    names = ds["outcome_name"].values
    perfect = np.mean(names == "perfect")
    assert text.startswith(f"All {names.size} runs finished")
    assert f"{100 * perfect:.0f} % ended perfect" in text
    share, _ = common.reduce(ds, "outcome", ("lr",), "fraction:perfect")
    best = np.sort(share["lr"].values[share.values == share.values.max()])
    assert (f"at {best.size} learning rates (the lowest {common.fmt(best[0])}, the highest {common.fmt(best[-1])})"
            if best.size > 4 else f"at lr = {common.fmt(best[0])}") in text
    assert "map" not in text  # lr x seed: seeds have no neighbours


def test_colours_fixed_by_name():
    old = ["perfect", "mean_bias_failure", "dead_failure", "diverged"]
    new = ["perfect", "symmetric_failure", "pinned_failure", "dead_failure", "interference_failure",
           "still_learning", "diverged"]
    c_old, c_new = dict(zip(old, common.class_colors(old))), dict(zip(new, common.class_colors(new)))
    assert c_old["perfect"] == c_new["perfect"] and c_old["dead_failure"] == c_new["dead_failure"]
    assert len(set(c_new.values())) == len(new)  # one colour per class
    assert common.class_colors(["dead_failure", "perfect"]) == [c_new["dead_failure"], c_new["perfect"]]
    for n in (2, 7, 12, 30):
        colors = [common.hex_color(c) for c in common.feature_colors(n)]
        assert len(set(colors)) == n  # no two features (unlearnt ones included) share a colour


V2_NAMES = "perfect symmetric_failure pinned_failure dead_failure interference_failure still_learning diverged"
V1_NAMES = "perfect mean_bias_failure dead_failure diverged"  # the engine's classes before DESIGN v2
V2_TO_V1 = {0: 0, 1: 1, 2: 1, 3: 2, 4: 0, 5: 0, 6: 3}  # mean_bias_failure covered symmetric and pinned


def relabelled(source, path, codes, names=None, values=None):
    """A copy of the engine file `source` with its outcome codes mapped by `codes` and,
    given `names`, other flag attributes: the files a longer run, or an older engine, writes."""
    import shutil

    import h5py

    shutil.copy(source, path)
    with h5py.File(path, "r+") as f:
        out = f["outcome"]
        old = out[...]
        out[...] = np.vectorize(lambda c: codes.get(int(c), c))(old).astype(old.dtype)
        if names:
            out.attrs["flag_values"] = np.asarray(values, dtype=np.int8)
            out.attrs["flag_meanings"] = names
    return str(path)


@pytest.fixture(scope="module")
def chaos_stuck(chaos, tmp_path_factory):
    """The chaos file with its still-learning runs labelled symmetric_failure, as a longer
    training leaves some of them."""
    return relabelled(chaos, tmp_path_factory.mktemp("v2") / "chaos_stuck.h5", {5: 1})


def test_v2_outcome_names_everywhere(chaos, chaos_stuck, tmp_path):
    import h5py

    from aesweep import report

    with h5py.File(chaos, "r") as f:  # the engine writes DESIGN v2's seven classes
        assert str(f["outcome"].attrs["flag_meanings"]) == V2_NAMES
        codes = f["outcome"][...]
    new = api.open(chaos_stuck)
    names = V2_NAMES.split()
    assert new["outcome_name"].values.ravel().tolist() == [names[{5: 1}.get(int(c), c)] for c in codes.ravel()]
    assert census(new, "lr")["outcome"].values.tolist() == names
    assert "fires on every input (symmetric failure)" in summary.summarize(new)
    assert report.main([chaos_stuck, "-o", str(tmp_path / "r")]) == 0
    page = (tmp_path / "r" / "index.html").read_text()
    assert "<th>pinned_failure</th>" in page and "symmetric_failure" in page
    # the same class keeps its colour in a file of the older engine, whose list differs
    old = api.open(relabelled(chaos_stuck, tmp_path / "v1.h5", V2_TO_V1, V1_NAMES, range(4)))
    assert "mean_bias_failure" in old["outcome_name"].values
    data_old, data_new = report.map_data(old), report.map_data(new)
    colour = lambda d, name: d["colors"][d["classes"].index(name)]  # noqa: E731
    assert colour(data_old, "mean_bias_failure") == colour(data_new, "symmetric_failure")
    assert colour(data_old, "perfect") == colour(data_new, "perfect")



def test_census_intervals_only_over_replicates(tiny):
    """Wilson intervals where a row pools replicates (seeds), plain fractions where it pools
    deterministic grid cells (learning rates): statistics that say what they are."""
    ds = api.open(tiny)
    assert set(common.grid_dims(ds)) == {"lr", "seed"} and ds.sizes["seed"] > 1 and ds.sizes["lr"] > 1
    by_lr = census(ds, "lr")
    assert np.isfinite(by_lr["lo"].values).all() and "replicates (seed)" in by_lr.attrs["pooled"]
    pooled = census(ds)
    assert np.isnan(pooled["lo"].values).all() and "grid cells over lr" in pooled.attrs["pooled"]
    assert "interval" not in summary.summarize(ds).split(".")[0]
