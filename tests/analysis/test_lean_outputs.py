"""Lean outputs (output.fields, issue 14): a file that keeps only some record fields opens
with xarray, the analysis that has its fields works on it, and the analysis that lacks one
says which instead of failing with a KeyError."""
import h5py
import numpy as np
import pytest
import xarray as xr

from aesweep import api, common, latent, summary
from aesweep.census import census
from conftest import ENGINE, run_module

LEAN = ["outcome", "recovery_step", "splay"]
MAP = {
    "model": {"n": 7, "m": 2},
    "init": {"scheme": "ideal_failure"},
    "perturb": {"features": "dead_neighbors"},
    "train": {"steps": 600},
    "grid": [{"param": "train.lr", "logspace": [-3.0, -1.0, 3]},
             {"param": "perturb.bias_delta", "linspace": [0.0, 0.2, 4]}],
}


@pytest.fixture(scope="module")
def lean_and_full(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lean")
    lean, full = folder / "lean.h5", folder / "full.h5"
    api.run({**MAP, "output": {"fields": LEAN}}, lean, engine=ENGINE)
    api.run(MAP, full, engine=ENGINE)
    return lean, full


def test_a_lean_file_opens_with_xarray_and_holds_only_its_fields(lean_and_full):
    lean, full = lean_and_full
    ds = xr.open_dataset(lean, engine="h5netcdf")
    assert sorted(ds.data_vars) == sorted(LEAN + ["done"])
    assert ds["outcome"].dims == ("lr", "bias_delta") and int(ds["done"].sum()) == 12
    assert "flag_meanings" in ds["outcome"].attrs
    # the kept fields hold the same values as in a file with every field
    whole = xr.open_dataset(full, engine="h5netcdf")
    for name in LEAN:
        assert np.array_equal(ds[name].values, whole[name].values, equal_nan=True), name
    with h5py.File(lean, "r") as f:
        assert "W_final" not in f and "feature" in f and "latent" in f
    # aesweep.open decodes the outcome names as for any file
    assert set(np.unique(api.open(lean)["outcome_name"].values)) <= {n for _, n in common.outcome_classes(ds)}


def test_analysis_of_a_lean_file(lean_and_full):
    lean, _ = lean_and_full
    ds = api.open(lean)
    table = census(ds)
    assert int(table["done"].sum()) == 12
    assert "finished after 600 steps" in summary.summarize(ds)
    with pytest.raises(common.AnalysisError, match="'W_final'.*output.fields"):
        latent.run_arrays(ds.isel(lr=0, bias_delta=0))


def test_scripts_name_the_missing_field(tmp_path, lean_and_full):
    lean, _ = lean_and_full
    proc = run_module("chaos_map", lean, "--panel", "recovered", "-o", tmp_path / "map.png")
    assert proc.returncode != 0 and "'recovered'" in proc.stderr and "output.fields" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_module("chaos_map", lean, "-o", tmp_path / "splay.png")  # splay is kept
    assert proc.returncode == 0, proc.stderr
    proc = run_module("report", lean, "-o", tmp_path / "report")
    assert proc.returncode != 0 and "'W_final'" in proc.stderr and "Traceback" not in proc.stderr
