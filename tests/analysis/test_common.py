"""Helpers in aesweep.common (and the latent geometry) against known values."""
import numpy as np
import pytest
import xarray as xr

from aesweep import common, latent


@pytest.mark.parametrize("k, n, lo, hi", [
    (0, 10, 0.0, 0.2775),
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (81, 263, 0.2553, 0.3662),
])
def test_wilson_known_values(k, n, lo, hi):
    got = common.wilson(k, n)
    assert got == pytest.approx((lo, hi), abs=5e-5)


def test_wilson_vectorised_and_empty():
    lo, hi = common.wilson(np.array([0, 5, 0]), np.array([10, 10, 0]))
    assert lo[:2] == pytest.approx([0.0, 0.2366], abs=5e-5)
    assert hi[:2] == pytest.approx([0.2775, 0.7634], abs=5e-5)
    assert np.isnan(lo[2]) and np.isnan(hi[2])


def test_log_cell_edges():
    edges = common.cell_edges([1e-3, 1e-2, 1e-1], log=True)
    assert np.log10(edges) == pytest.approx([-3.5, -2.5, -1.5, -0.5])
    uneven = common.cell_edges([1e-4, 1e-3, 1e-1], log=True)
    assert np.log10(uneven) == pytest.approx([-4.5, -3.5, -2.0, 0.0])


def test_linear_cell_edges():
    assert common.cell_edges([0.0, 0.1, 0.2]) == pytest.approx([-0.05, 0.05, 0.15, 0.25])
    assert common.cell_edges([3.0]) == pytest.approx([2.5, 3.5])
    assert np.log10(common.cell_edges([1e-2], log=True)) == pytest.approx([-2.5, -1.5])


def test_log_axis_choice():
    assert common.wants_log([1e-3, 1e-2, 2e-2])
    assert not common.wants_log([1e-3, 5e-3])  # less than a decade
    assert not common.wants_log([0.0, 0.1, 10.0])  # not all > 0
    assert not common.wants_log([5.0])


def test_parse_sel():
    assert common.parse_sel(["lr=0.01", " seed = 3"]) == {"lr": "0.01", "seed": "3"}
    for bad in ("lr", "=3", "lr="):
        with pytest.raises(common.AnalysisError):
            common.parse_sel([bad])


def test_mode_ignores_nan_and_breaks_ties_first():
    da = xr.DataArray([[0, 5, 5], [2, 2, 0], [np.nan, np.nan, np.nan], [5, 0, np.nan]], dims=("x", "seed"))
    out = common.mode_index(da, ["x"], [5, 0, 2]).values  # codes need not be sorted
    assert out[:2].tolist() == [0.0, 2.0] and np.isnan(out[2]) and out[3] == 0.0


def test_convex_hull_and_half_plane():
    square = [(1, 1), (-1, 1), (-1, -1), (1, -1), (0, 0), (0.5, 0.2)]
    hull = latent.convex_hull(square)
    assert len(hull) == 4 and {tuple(p) for p in hull} == {(1, 1), (-1, 1), (-1, -1), (1, -1)}
    half = latent.clip_half_plane(hull, np.array([1.0, 0.0]), 0.0)  # x > 0
    assert half[:, 0].min() == pytest.approx(0.0) and half[:, 0].max() == pytest.approx(1.0)
    assert len(latent.clip_half_plane(hull, np.array([1.0, 0.0]), -2.0)) == 0  # nowhere
    assert len(latent.clip_half_plane(hull, np.array([1.0, 0.0]), 2.0)) == 4  # everywhere
