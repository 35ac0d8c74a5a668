"""analysis.chaos_stats: box counting against known dimensions, and the script on engine files."""
import re
import shutil

import h5py
import xarray as xr
import numpy as np
import pytest

from analysis import chaos_stats, common
from conftest import run_module
from test_scripts import assert_clear_error, check_image, raw

LOG8_LOG3 = np.log(8) / np.log(3)  # 1.8928: the Sierpinski carpet


# ----------------------------------------------------------------------------- box counting


def half_plane(n=256):
    y, x = np.mgrid[:n, :n]
    return x, y


def test_straight_boundaries_have_dimension_one():
    x, y = half_plane()
    for label in (x >= 128, y >= 128, x > y, x + y >= 255):
        dim, sizes, counts = chaos_stats.box_counting_dimension(chaos_stats.boundary_cells(label))
        assert sizes.tolist() == [1, 2, 4, 8, 16, 32, 64]  # up to 256 / 4
        assert dim == pytest.approx(1.0, abs=0.05), (dim, counts)
    # the vertical half-plane: a two-cell-thick line on box edges at every size, N(s) = 512 / s
    dim, _, counts = chaos_stats.box_counting_dimension(chaos_stats.boundary_cells(x >= 128))
    assert counts.tolist() == [512 // s for s in (1, 2, 4, 8, 16, 32, 64)] and dim == pytest.approx(1.0)


def sierpinski_carpet(levels):
    """3^levels square label: 1 where a cell lies in a removed (middle) square at any level."""
    i = np.arange(3 ** levels)
    removed = np.zeros((i.size, i.size), dtype=bool)
    for k in range(levels):
        middle = (i // 3 ** k) % 3 == 1
        removed |= middle[:, None] & middle[None, :]
    return removed


def test_sierpinski_carpet_boundary():
    """The boundaries of the removed squares are dense in the carpet, so their union has
    the carpet's box dimension, log 8 / log 3. On the 729 grid (base 3: s = 1 ... 81) the
    count measures 1.86; the finest step (s = 1 -> 3) is the low one, since a one-cell hole
    marks five cells but one 3 x 3 box."""
    carpet = sierpinski_carpet(6)
    dim, sizes, counts = chaos_stats.box_counting_dimension(chaos_stats.boundary_cells(carpet), base=3)
    assert sizes.tolist() == [1, 3, 9, 27, 81]
    assert dim == pytest.approx(LOG8_LOG3, abs=0.05), (dim, counts)
    # the counting itself, exactly: the carpet's 8^(6-k) remaining boxes of side 3^k
    dim, _, counts = chaos_stats.box_counting_dimension(~carpet, base=3)
    assert counts.tolist() == [8 ** (6 - k) for k in range(5)]
    assert dim == pytest.approx(LOG8_LOG3, abs=1e-9)


def test_boundary_cells_and_nan():
    label = np.array([[0, 0, 1],
                      [0, np.nan, 1],
                      [0, 0, 0]])
    assert chaos_stats.boundary_cells(label).astype(int).tolist() == [[0, 1, 1],
                                                                      [0, 0, 1],
                                                                      [0, 0, 1]]


def test_undefined_dimension():
    dim, sizes, counts = chaos_stats.box_counting_dimension(np.zeros((64, 64), bool))  # no boundary
    assert np.isnan(dim) and counts.tolist() == [0] * 5
    dim, sizes, _ = chaos_stats.box_counting_dimension(np.eye(7, dtype=bool))  # 7 / 4: s = 1 only
    assert np.isnan(dim) and sizes.tolist() == [1]
    assert chaos_stats.box_sizes((40, 100), base=3).tolist() == [1, 3, 9]
    with pytest.raises(ValueError):
        chaos_stats.box_sizes((8, 8), base=1)


# ----------------------------------------------------------------------------- the script


def printed(text, key):
    line = next(line for line in text.splitlines() if line.startswith(key))
    return line[len(key):].strip()


def test_chaos_stats_twin(twin, tmp_path, capsys):
    out = tmp_path / "stats.png"
    assert chaos_stats.main([twin, "-o", str(out)]) == 0
    check_image(out, chaos_stats.SIZE_THREE)
    text = capsys.readouterr().out
    # the dimension, recomputed from the file as stored: label = outcome perfect, cells (bias_delta, lr)
    outcome, done = raw(twin, "outcome")
    assert common.open_dataset(twin)["outcome"].dims == ("lr", "bias_delta")
    label = np.where(done, outcome == 0, np.nan).T
    want, sizes, counts = chaos_stats.box_counting_dimension(chaos_stats.boundary_cells(label))
    assert sizes.tolist() == [1, 2, 4]
    assert printed(text, "box counting (base 2):") == (f"s = 1 2 4; N(s) = {' '.join(map(str, counts))}")
    dim = printed(text, "box-counting dimension:")
    assert (float(dim) == pytest.approx(want, abs=5e-5)) if np.isfinite(want) else dim.startswith("undefined")
    # the Lyapunov summary
    lyapunov, _ = raw(twin, "lyapunov")
    lyapunov = lyapunov[done & np.isfinite(lyapunov)]
    m = re.fullmatch(r"(\d+) runs, fraction > 0: (\S+) \[(\S+), (\S+)\], median (\S+) 1/step",
                     printed(text, "Lyapunov:"))
    assert m, text
    assert int(m[1]) == lyapunov.size == done.sum()
    assert float(m[2]) == pytest.approx(np.mean(lyapunov > 0), abs=5e-4)
    assert (float(m[3]), float(m[4])) == pytest.approx(common.wilson(np.sum(lyapunov > 0), lyapunov.size), abs=5e-4)
    assert float(m[5]) == pytest.approx(np.median(lyapunov), rel=1e-3)


def test_chaos_stats_recovered_base3_pdf(twin, tmp_path, capsys):
    out = tmp_path / "stats.pdf"
    assert chaos_stats.main([twin, "--label", "recovered", "--base", "3", "--reduce", "median",
                             "--x", "bias_delta", "--y", "lr", "-o", str(out)]) == 0
    assert out.read_bytes()[:5] == b"%PDF-"
    text = capsys.readouterr().out
    assert printed(text, "label:").startswith("recovered")
    assert printed(text, "box counting (base 3):").startswith("s = 1 3;")


def test_chaos_stats_without_twins(chaos, tmp_path, capsys):
    """chaos.h5 has no twin runs (lyapunov all NaN) and a 5 x 4 grid: one box size only."""
    out = tmp_path / "stats.png"
    assert chaos_stats.main([chaos, "-o", str(out)]) == 0
    check_image(out, chaos_stats.SIZE_TWO)
    text = capsys.readouterr().out
    assert printed(text, "Lyapunov:").startswith("none in this file")
    assert printed(text, "box-counting dimension:").startswith("undefined")


@pytest.fixture
def stripped(twin, tmp_path):
    """twin.h5 without the `lyapunov` and `recovered` variables."""
    path = tmp_path / "stripped.h5"
    shutil.copy(twin, path)
    with h5py.File(path, "r+") as f:
        del f["lyapunov"], f["recovered"]
    return str(path)


def test_no_lyapunov_variable_and_missing_label(stripped, tmp_path, capsys):
    out = tmp_path / "stats.png"
    assert chaos_stats.main([stripped, "--sel", "lr=0.01", "--x", "bias_delta", "--y", "lr", "-o", str(out)]) == 0
    assert "none in this file" in capsys.readouterr().out
    check_image(out, chaos_stats.SIZE_TWO)
    status = chaos_stats.main([stripped, "--label", "recovered", "-o", str(out)])
    assert_clear_error(status, capsys.readouterr().err, "missing variable", "recovered")


def test_errors(tiny, twin, tmp_path, capsys):
    proc = run_module("chaos_stats", twin, "--x", "seed", "-o", tmp_path / "x.png")
    assert_clear_error(proc.returncode, proc.stderr, "unknown grid axis", "seed")
    for args, words in [(["-o", str(tmp_path / "x.jpg")], [".png or .pdf"]),
                        (["--sel", "lr=x", "-o", str(tmp_path / "x.png")], ["not a number"])]:
        assert_clear_error(chaos_stats.main([twin, *args]), capsys.readouterr().err, *words)
    assert_clear_error(chaos_stats.main([str(tmp_path / "nope.h5"), "-o", str(tmp_path / "x.png")]),
                       capsys.readouterr().err, "no such file")


# ----------------------------------------------------------------------------- uncertainty exponent

OUTCOMES = "perfect symmetric_failure pinned_failure dead_failure interference_failure still_learning diverged"


def outcome_var(dims, perfect):
    """int8 outcome codes: 0 (perfect) where `perfect`, 1 elsewhere, with CF flag attributes."""
    return (dims, np.where(perfect, 0, 1).astype(np.int8),
            {"flag_values": np.arange(7, dtype=np.int8), "flag_meanings": OUTCOMES})


def field_dataset(perfect, config=""):
    """A map over (bias_delta, lr) whose outcome is perfect where `perfect` (rows: bias_delta)."""
    rows, cols = perfect.shape
    dims = ("bias_delta", "lr")
    return xr.Dataset({"outcome": outcome_var(dims, perfect), "done": (dims, np.ones(perfect.shape, np.uint8))},
                      coords={"lr": np.logspace(-3, -1, cols), "bias_delta": np.linspace(0, 0.2, rows)},
                      attrs={"config": config})


def weierstrass_label(n, dimension, b=2.0, terms=40):
    """n x n: perfect below the graph of a Weierstrass function of box dimension D
    (sum of b^((D-2)k) cos(2 pi b^k t + k)), scaled to the middle half of the rows."""
    t = np.arange(n) / n
    w = sum(b ** ((dimension - 2) * k) * np.cos(2 * np.pi * b ** k * t + k) for k in range(terms))
    w = (w - w.min()) / (w.max() - w.min())
    rows = np.arange(n)[:, None] / n
    return rows < 0.25 + 0.5 * w[None, :]


def one(u, name, region="all"):
    return u[name].sel(region=region).item()


def test_uncertainty_straight_line_falls_like_eps():
    y, x = np.mgrid[:512, :512]
    u = chaos_stats.uncertainty(field_dataset(x + 0.3 * y > 200), n_boot=200)
    assert u.attrs["method"] == "grid" and u.attrs["x"] == "lr" and u["eps"].values.tolist() == [1, 2, 4, 8, 16, 32, 64, 128]
    alpha, lo, hi = (one(u, k) for k in ("alpha", "alpha_lo", "alpha_hi"))
    assert alpha == pytest.approx(1.0, abs=0.05) and lo <= alpha <= hi and hi - lo < 0.1
    assert one(u, "verdict").startswith("falls like eps")
    assert one(u, "box_dim") == pytest.approx(1.0, abs=0.1)


def test_uncertainty_random_field_is_flat():
    rng = np.random.default_rng(1)
    u = chaos_stats.uncertainty(field_dataset(rng.random((256, 256)) < 0.5), n_boot=200)
    # every cell is uncertain unless all four neighbours agree with it: 1 - 2 / 2^5
    assert u["f"].sel(region="all").values == pytest.approx(15 / 16, abs=0.01)
    assert one(u, "alpha") == pytest.approx(0.0, abs=0.05) and one(u, "verdict").startswith("flat")


@pytest.mark.parametrize("dimension", [1.5, 1.7])
def test_uncertainty_fractal_boundary(dimension):
    """A graph of box dimension D in a 2-D map: alpha = 2 - D. On a 1024-cell map over
    eps = 1 ... 16 cells the fit reads 0.52 (D = 1.5) and 0.32 (D = 1.7): the finite grid
    adds a term linear in eps, which biases alpha up; larger eps feel the graph's height."""
    u = chaos_stats.uncertainty(field_dataset(weierstrass_label(1024, dimension)), max_eps=16, n_boot=100)
    assert u["eps"].values.tolist() == [1, 2, 4, 8, 16]
    assert one(u, "alpha") == pytest.approx(2 - dimension, abs=0.08)
    assert one(u, "verdict").startswith("falls slower than eps")


def line_and_noise():
    """512 x 512: a straight boundary for lr below the middle column, noise above it."""
    y, x = np.mgrid[:512, :512]
    noise = np.random.default_rng(2).random((512, 512)) < 0.5
    return np.where(x < 256, y < 200, noise)


def test_uncertainty_regions_from_command_line_and_config():
    ds = field_dataset(line_and_noise())
    lr = ds["lr"].values
    split = f"{(lr[255] + lr[256]) / 2:.6g}"
    specs = [f"smooth: lr in [0, {split}], bias_delta in [0, 0.2]", f"lr in [{split}, 1]"]
    u = chaos_stats.uncertainty(ds, chaos_stats.regions_for(ds, specs), n_boot=100)
    assert u["region"].values.tolist() == ["smooth", "region2"]
    assert one(u, "alpha", "smooth") == pytest.approx(1.0, abs=0.1)
    assert one(u, "verdict", "smooth").startswith("falls like eps")
    assert one(u, "alpha", "region2") == pytest.approx(0.0, abs=0.05)
    assert one(u, "verdict", "region2").startswith("flat")
    config = f"grid = ();\n# region smooth: lr in [0, {split}]\n  // region mixed: lr in [{split}, 1]\n"
    ds = field_dataset(line_and_noise(), config)
    from_config = chaos_stats.uncertainty(ds, chaos_stats.regions_for(ds, []), n_boot=100)
    assert from_config["region"].values.tolist() == ["smooth", "mixed"]
    assert from_config["alpha"].values == pytest.approx(u["alpha"].values)
    assert chaos_stats.regions_for(field_dataset(line_and_noise()), []) == [("all", {})]


def test_region_errors():
    for text, words in [("lr in [0.1]", "bad region"), ("lr in [a, 1]", "not numbers"),
                        ("lr in [1, 0]", "is empty"), ("", "no 'SETTING")]:
        with pytest.raises(common.AnalysisError, match=words):
            chaos_stats.parse_region(text)
    ds = field_dataset(np.eye(64, dtype=bool))
    with pytest.raises(common.AnalysisError, match="unknown outcome"):
        chaos_stats.uncertainty(ds, split="nonsense")
    with pytest.raises(common.AnalysisError, match="not one of the map axes"):
        chaos_stats.uncertainty(ds, [("r", {"seed": (0, 1)})])
    with pytest.raises(common.AnalysisError, match="no finished twin runs"):
        chaos_stats.uncertainty(ds, method="twin")
    with pytest.raises(common.AnalysisError, match="repeat"):
        chaos_stats.regions_for(ds, ["a: lr in [0, 1]", "a: lr in [0, 1]"])


def twin_dataset(alpha_of, runs=4000, eps=(1e-4, 1e-3, 1e-2, 1e-1), seed=3):
    """Runs at random points (`sample`, coordinates lr and bias_delta) over a twin_eps axis:
    the twin ends on the other side of perfect with probability 0.5 (eps / 0.1)^alpha,
    alpha = alpha_of(lr, bias_delta)."""
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-1.5, -1.0, runs)
    delta = rng.uniform(0.0, 0.2, runs)
    eps = np.array(eps)
    p = 0.5 * (eps[None, :] / 0.1) ** alpha_of(lr, delta)[:, None]
    perfect = rng.random((runs, eps.size)) < 0.5
    flips = rng.random((runs, eps.size)) < p
    dims = ("sample", "twin_eps")
    return xr.Dataset({"outcome": outcome_var(dims, perfect), "twin_outcome": outcome_var(dims, perfect ^ flips),
                       "done": (dims, np.ones(perfect.shape, np.uint8))},
                      coords={"twin_eps": eps, "lr": ("sample", lr), "bias_delta": ("sample", delta)})


def test_uncertainty_from_twins_per_region():
    """Sample axis, twins: alpha = 1 for bias_delta < 0.1, 0 above; regions over the coordinates."""
    ds = twin_dataset(lambda lr, delta: np.where(delta < 0.1, 1.0, 0.0))
    regions = [("smooth", {"bias_delta": (0.0, 0.1)}), ("mixed", {"lr": (0.0, 1.0), "bias_delta": (0.1, 0.2)})]
    u = chaos_stats.uncertainty(ds, regions, n_boot=300)
    assert u.attrs["method"] == "twin" and u["eps"].values.tolist() == [1e-4, 1e-3, 1e-2, 1e-1]
    assert u["assessed"].sum().item() == ds.sizes["sample"] * 4
    for name, want, words in [("smooth", 1.0, "falls like eps"), ("mixed", 0.0, "flat")]:
        alpha, lo, hi = (one(u, k, name) for k in ("alpha", "alpha_lo", "alpha_hi"))
        assert alpha == pytest.approx(want, abs=0.1) and lo < want < hi, (name, alpha, lo, hi)
        assert one(u, "verdict", name).startswith(words)
        assert np.isnan(one(u, "box_dim", name))  # random points: no boxes
    with pytest.raises(common.AnalysisError, match="no neighbours"):
        chaos_stats.uncertainty(ds, method="grid")


def test_uncertainty_no_boundary_and_bootstrap_width():
    u = chaos_stats.uncertainty(field_dataset(np.ones((64, 64), bool)))
    assert np.isnan(one(u, "alpha")) and one(u, "verdict").startswith("no boundary")
    # more runs per eps: a narrower interval
    eps, f = np.array([1.0, 2.0, 4.0, 8.0]), np.array([0.1, 0.2, 0.4, 0.8])
    narrow = chaos_stats.fit_alpha(eps, f * 10000, np.full(4, 10000))
    wide = chaos_stats.fit_alpha(eps, f * 100, np.full(4, 100))
    assert narrow[0] == wide[0] == pytest.approx(1.0)
    assert narrow[2] - narrow[1] < wide[2] - wide[1] and wide[1] < 1.0 < wide[2]


def test_chaos_stats_prints_uncertainty(twin, capsys, tmp_path):
    """The engine's twin.h5 (16 x 16): the grid method, per region; by default its twins."""
    assert chaos_stats.main([twin, "--region", "low: lr in [0, 0.01]", "--region", "lr in [0.01, 1]",
                             "--method", "grid", "--bootstrap", "50", "-o", str(tmp_path / "s.png")]) == 0
    text = capsys.readouterr().out
    assert "method grid" in text and "region low (lr in [0, 0.01]):" in text and "region region2" in text
    assert re.search(r"alpha = (undefined|-?\d\.\d{3} \[\S+, \S+\]): ", text), text
    assert chaos_stats.main([twin, "--bootstrap", "50", "-o", str(tmp_path / "t.png")]) == 0
    assert "method twin" in capsys.readouterr().out  # the engine writes twin_outcome


def test_shipped_uncertainty_sweep_names_its_regions():
    from conftest import ROOT
    with open(f"{ROOT}/sweeps/uncertainty.cfg") as f:
        regions = chaos_stats.regions_in_config(f.read())
    assert regions == [("moderate_lr", {"lr": (0.001, 0.01), "bias_delta": (0.0, 0.2)}),
                       ("high_lr", {"lr": (0.01, 0.1), "bias_delta": (0.0, 0.2)})]
