"""aesweep.chaos_stats: box counting against known dimensions, and the script on engine files."""
import re
import shutil

import h5py
import xarray as xr
import numpy as np
import pytest

from aesweep import chaos_stats, common
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


def region_block(text, name="all"):
    """The lines printed for region `name`, without their indent."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(f"region {name} "))
    block = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        block.append(line.strip())
    return block


def test_chaos_stats_twin(twin, tmp_path, capsys):
    out = tmp_path / "stats.png"
    assert chaos_stats.main([twin, "-o", str(out)]) == 0
    check_image(out, chaos_stats.SIZE_FOUR)
    text = capsys.readouterr().out
    block = region_block(text)
    # the dimension, recomputed from the file as stored: label = outcome perfect, cells (bias_delta, lr)
    outcome, done = raw(twin, "outcome")
    assert common.open_dataset(twin)["outcome"].dims == ("lr", "bias_delta")
    label = np.where(done, outcome == 0, np.nan).T
    want, sizes, counts = chaos_stats.box_counting_dimension(chaos_stats.boundary_cells(label))
    assert sizes.tolist() == [1, 2, 4]
    box = printed(block, "box counting (base 2):")
    assert box.startswith(f"s = 1 2 4; N(s) = {' '.join(map(str, counts))}; dimension ")
    dim = box.split("dimension ")[1]
    assert (float(dim) == pytest.approx(want, abs=5e-4)) if np.isfinite(want) else dim.startswith("undefined")
    # the Lyapunov summary of the region (the whole map): a deterministic grid, so a plain share
    name = "lyapunov" if "lyapunov" in common.open_dataset(twin) else "ftle"
    lyap, _ = raw(twin, name)
    lyap = lyap[done & np.isfinite(lyap)]
    m = re.fullmatch(r"(\d+) runs, quantiles 10/25/50/75/90 %: (.+); fraction > 0: (\S+)", printed(block, "Lyapunov:"))
    assert m, text
    assert int(m[1]) == lyap.size == done.sum()
    assert [float(v) for v in m[2].split()] == pytest.approx(np.quantile(lyap, chaos_stats.QUANTILES), rel=1e-3)
    assert float(m[3]) == pytest.approx(np.mean(lyap > 0), abs=5e-4)
    assert f"Lyapunov exponent: `{name}` [1/step]; share > 0: plain share of grid cells" in text


def printed(text, key):
    lines = text.splitlines() if isinstance(text, str) else text
    line = next(line for line in lines if line.startswith(key))
    return line[len(key):].strip()


def test_chaos_stats_recovered_base3_pdf(twin, tmp_path, capsys):
    out = tmp_path / "stats.pdf"
    assert chaos_stats.main([twin, "--label", "recovered", "--base", "3", "--reduce", "median",
                             "--x", "bias_delta", "--y", "lr", "-o", str(out)]) == 0
    assert out.read_bytes()[:5] == b"%PDF-"
    text = capsys.readouterr().out
    assert printed(text, "split:").startswith("recovered vs not")
    assert printed(region_block(text), "box counting (base 3):").startswith("s = 1 3;")


def test_chaos_stats_without_twins(chaos, tmp_path, capsys):
    """chaos.h5 has no twin runs (no finite Lyapunov exponent) and a 5 x 4 grid: one box size only."""
    out = tmp_path / "stats.png"
    assert chaos_stats.main([chaos, "-o", str(out)]) == 0
    check_image(out, chaos_stats.SIZE_THREE)
    text = capsys.readouterr().out
    assert printed(text, "Lyapunov exponent:").startswith("none in this file")
    box = printed(region_block(text), "box counting (base 2):")
    assert box.startswith("s = 1; N(s) = ") and "dimension undefined: 1 box size(s)" in box


@pytest.fixture
def stripped(twin, tmp_path):
    """twin.h5 without its Lyapunov variable and `recovered`."""
    path = tmp_path / "stripped.h5"
    shutil.copy(twin, path)
    with h5py.File(path, "r+") as f:
        del f["lyapunov" if "lyapunov" in f else "ftle"], f["recovered"]
    return str(path)


def test_no_lyapunov_variable_and_missing_label(stripped, tmp_path, capsys):
    out = tmp_path / "stats.png"
    assert chaos_stats.main([stripped, "--sel", "lr=0.01", "--x", "bias_delta", "--y", "lr", "-o", str(out)]) == 0
    assert "none in this file" in capsys.readouterr().out
    check_image(out, chaos_stats.SIZE_THREE)
    status = chaos_stats.main([stripped, "--split", "recovered", "-o", str(out)])
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
    u = chaos_stats.regional(field_dataset(x + 0.3 * y > 200), n_boot=200)
    assert u.attrs["method"] == "grid" and u.attrs["x"] == "lr" and u["eps"].values.tolist() == [1, 2, 4, 8, 16, 32, 64, 128]
    alpha, lo, hi = (one(u, k) for k in ("alpha", "alpha_lo", "alpha_hi"))
    assert alpha == pytest.approx(1.0, abs=0.05) and lo <= alpha <= hi and hi - lo < 0.1
    assert one(u, "verdict").startswith("falls like eps")
    assert one(u, "box_dim") == pytest.approx(1.0, abs=0.1)


def test_uncertainty_random_field_is_flat():
    rng = np.random.default_rng(1)
    u = chaos_stats.regional(field_dataset(rng.random((256, 256)) < 0.5), n_boot=200)
    # every cell is uncertain unless all four neighbours agree with it: 1 - 2 / 2^5
    assert u["f"].sel(region="all").values == pytest.approx(15 / 16, abs=0.01)
    assert one(u, "alpha") == pytest.approx(0.0, abs=0.05) and one(u, "verdict").startswith("flat")


@pytest.mark.parametrize("dimension", [1.5, 1.7])
def test_uncertainty_fractal_boundary(dimension):
    """A graph of box dimension D in a 2-D map: alpha = 2 - D. On a 1024-cell map over
    eps = 1 ... 16 cells the fit reads 0.52 (D = 1.5) and 0.32 (D = 1.7): the finite grid
    adds a term linear in eps, which biases alpha up; larger eps feel the graph's height."""
    u = chaos_stats.regional(field_dataset(weierstrass_label(1024, dimension)), max_eps=16, n_boot=100)
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
    u = chaos_stats.regional(ds, chaos_stats.regions_for(ds, specs), n_boot=100)
    assert u["region"].values.tolist() == ["smooth", "region2"]
    assert one(u, "alpha", "smooth") == pytest.approx(1.0, abs=0.1)
    assert one(u, "verdict", "smooth").startswith("falls like eps")
    assert one(u, "alpha", "region2") == pytest.approx(0.0, abs=0.05)
    assert one(u, "verdict", "region2").startswith("flat")
    config = f"grid = ();\n# region smooth: lr in [0, {split}]\n  // region mixed: lr in [{split}, 1]\n"
    ds = field_dataset(line_and_noise(), config)
    from_config = chaos_stats.regional(ds, chaos_stats.regions_for(ds, []), n_boot=100)
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
        chaos_stats.regional(ds, split="nonsense")
    with pytest.raises(common.AnalysisError, match="not one of the map axes"):
        chaos_stats.regional(ds, [("r", {"seed": (0, 1)})])
    with pytest.raises(common.AnalysisError, match="no finished twin runs"):
        chaos_stats.regional(ds, method="twin")
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
    u = chaos_stats.regional(ds, regions, n_boot=300)
    assert u.attrs["method"] == "twin" and u["eps"].values.tolist() == [1e-4, 1e-3, 1e-2, 1e-1]
    assert u["assessed"].sum().item() == ds.sizes["sample"] * 4
    for name, want, words in [("smooth", 1.0, "falls like eps"), ("mixed", 0.0, "flat")]:
        alpha, lo, hi = (one(u, k, name) for k in ("alpha", "alpha_lo", "alpha_hi"))
        assert alpha == pytest.approx(want, abs=0.1) and lo < want < hi, (name, alpha, lo, hi)
        assert one(u, "verdict", name).startswith(words)
        assert np.isnan(one(u, "box_dim", name))  # random points: no boxes
        inside = int(chaos_stats.region_mask(ds, dict(regions)[name]).sum())
        assert one(u, "interval", name) == f"bootstrap over {inside} runs"
    with pytest.raises(common.AnalysisError, match="no neighbours"):
        chaos_stats.regional(ds, method="grid")


def test_uncertainty_no_boundary_and_bootstrap_width():
    u = chaos_stats.regional(field_dataset(np.ones((64, 64), bool)))
    assert np.isnan(one(u, "alpha")) and one(u, "verdict").startswith("no boundary")
    # more runs per eps: a narrower interval
    eps, f = np.array([1.0, 2.0, 4.0, 8.0]), np.array([0.1, 0.2, 0.4, 0.8])
    narrow = chaos_stats.fit_alpha(eps, f * 10000, np.full(4, 10000))
    wide = chaos_stats.fit_alpha(eps, f * 100, np.full(4, 100))
    assert narrow[0] == wide[0] == pytest.approx(1.0)
    assert narrow[2] - narrow[1] < wide[2] - wide[1] and wide[1] < 1.0 < wide[2]


def test_chaos_stats_prints_uncertainty(twin, capsys, tmp_path):
    """The engine's twin.h5 (16 x 16): the grid method, per region."""
    assert chaos_stats.main([twin, "--method", "grid", "--region", "low: lr in [0, 0.01]", "--region",
                             "lr in [0.01, 1]", "--bootstrap", "50", "-o", str(tmp_path / "s.png")]) == 0
    text = capsys.readouterr().out
    assert "method grid" in text and "region low (lr in [0, 0.01]):" in text and "region region2" in text
    for name in ("low", "region2"):
        alpha = next(line for line in region_block(text, name) if line.startswith("alpha"))
        assert re.fullmatch(r"alpha(: undefined.*|: no boundary.*| = -?\d\.\d{3} \[\S+, \S+\] "
                            r"\(binomial over the cells of one map .*\): .+)", alpha), alpha


def test_shipped_uncertainty_sweep_names_its_regions():
    from conftest import ROOT
    with open(f"{ROOT}/sweeps/uncertainty.cfg") as f:
        regions = chaos_stats.regions_in_config(f.read())
    assert [name for name, _ in regions] == ["smooth", "mixed"]
    assert all(set(bounds) == {"lr", "bias_delta"} for _, bounds in regions)


# ----------------------------------------------------------------------------- per region: boxes, verdicts, intervals


def test_box_counting_per_region():
    """One map, two regions: the straight boundary counts ~1 (1.21: it lies off the box
    edges, see box_counting_dimension), the noise fills area (~2); the whole map mixes
    the two and reads in between."""
    ds = field_dataset(line_and_noise())
    lr = ds["lr"].values
    split = (lr[255] + lr[256]) / 2
    u = chaos_stats.regional(ds, [("smooth", {"lr": (0, split)}), ("mixed", {"lr": (split, 1)}), ("all", {})],
                             n_boot=0)
    assert one(u, "box_dim", "smooth") == pytest.approx(1.0, abs=0.25)
    assert one(u, "box_dim", "mixed") == pytest.approx(2.0, abs=0.1)
    assert one(u, "box_dim", "smooth") + 0.2 < one(u, "box_dim", "all") < one(u, "box_dim", "mixed")
    # each region's own box sizes: 256 columns allow s up to 64, like the 512 rows' quarter
    assert u["box_count"].sel(region="smooth").values.tolist()[0] > 0
    text = "\n".join(chaos_stats.region_lines(u))
    assert re.search(r"region smooth .*\n(  .*\n)*  box counting \(base 2\): s = 1 2 4 8 16 32 64; N\(s\) = [\d ]+; "
                     r"dimension 1\.\d{3}", text), text


def test_verdict_reads_the_interval():
    v = chaos_stats.verdict
    assert v(0.05, -0.1, 0.2, [40]).startswith("flat")
    assert v(0.95, 0.8, 1.1, [40]).startswith("falls like eps")
    assert v(0.5, 0.3, 0.6, [40]).startswith("falls slower than eps")
    assert v(0.2, 0.1, 0.5, [40]) == ("undecided: the interval reaches flat and falls slower than eps "
                                      "(more runs or eps values)")
    assert v(0.5, 0.1, 0.9, [40]).count(" and ") == 2  # all three
    assert v(0.1, np.nan, np.nan, [40]).startswith("flat")  # no interval: by alpha
    assert v(np.nan, np.nan, np.nan, [40]).startswith("undefined")
    assert v(np.nan, np.nan, np.nan, [0, 0]).startswith("no boundary")
    # a few scattered uncertain runs: their log-log slope says nothing (f = 0 drops out)
    assert v(0.1, 0.0, 0.2, [0, 1, 1, 0, 15]).startswith("too few uncertain runs to judge (17 over every eps")
    assert v(0.1, 0.0, 0.2, [0, 1, 1, 0, 18]).startswith("flat")


def distance_dataset(alpha, runs, seed, eps=(1e-4, 1e-3, 1e-2, 1e-1)):
    """Twins over a sample axis as a boundary makes them: run i lies at distance d_i from
    the boundary and its twin crosses it for every eps > d_i (so a run's twins at several
    eps are correlated), with P(d < eps) = 0.5 (eps / 0.1)^alpha."""
    rng = np.random.default_rng(seed)
    u = rng.random(runs)
    d = np.where(u < 0.5, 0.1 * (u / 0.5) ** (1 / alpha), np.inf)
    eps = np.array(eps)
    perfect = np.broadcast_to((rng.random(runs) < 0.5)[:, None], (runs, eps.size))
    flips = d[:, None] < eps[None, :]
    dims = ("sample", "twin_eps")
    return xr.Dataset({"outcome": outcome_var(dims, perfect), "twin_outcome": outcome_var(dims, perfect ^ flips),
                       "done": (dims, np.ones(perfect.shape, np.uint8))},
                      coords={"twin_eps": eps, "lr": ("sample", rng.random(runs)),
                              "bias_delta": ("sample", rng.random(runs))})


def test_bootstrap_interval_covers_alpha():
    """Over 40 independent synthetic experiments of 400 runs, the 95 % interval (runs
    resampled with their twins at every eps) holds the true alpha = 0.5 in most."""
    hits = 0
    for seed in range(40):
        u = chaos_stats.regional(distance_dataset(0.5, 400, seed), n_boot=200, seed=seed)
        hits += one(u, "alpha_lo") <= 0.5 <= one(u, "alpha_hi")
        assert one(u, "interval") == "bootstrap over 400 runs"
    assert hits >= 34, hits


def test_grid_replicate_maps_are_resampled():
    """A seed axis of maps: the interval is drawn over the maps, and a region of noise is flat."""
    rng = np.random.default_rng(4)
    perfect = rng.random((5, 64, 64)) < 0.5
    dims = ("seed", "bias_delta", "lr")
    ds = xr.Dataset({"outcome": outcome_var(dims, perfect), "done": (dims, np.ones(perfect.shape, np.uint8))},
                    coords={"seed": np.arange(5), "lr": np.logspace(-3, -1, 64), "bias_delta": np.linspace(0, 0.2, 64)})
    u = chaos_stats.regional(ds, n_boot=100)
    assert one(u, "interval") == "bootstrap over 5 replicate maps"
    assert one(u, "verdict").startswith("flat")
    assert u["assessed"].sel(region="all").values[0] == 5 * 62 * 62


def test_split_recovered_uses_twin_recovered():
    """--split recovered: a run is uncertain when it and its twin differ in `recovered`,
    whatever their outcomes."""
    ds = distance_dataset(1.0, 2000, 5)
    flips = ds["outcome"] != ds["twin_outcome"]
    rec = xr.DataArray(np.zeros(flips.shape, np.uint8), dims=flips.dims)
    all_perfect = outcome_var(flips.dims, np.ones(flips.shape, bool))
    ds = ds.assign(recovered=rec, twin_recovered=flips.astype(np.uint8), outcome=all_perfect, twin_outcome=all_perfect)
    u = chaos_stats.regional(ds, split="recovered", n_boot=100)
    assert u.attrs["split"] == "recovered"
    assert u["uncertain"].sel(region="all").values.tolist() == flips.sum("sample").values.tolist()
    assert one(u, "alpha") == pytest.approx(1.0, abs=0.15)
    assert chaos_stats.regional(ds, n_boot=0)["uncertain"].sum().item() == 0  # outcomes: all perfect, no twin differs
    with pytest.raises(common.AnalysisError, match="twin_recovered"):
        chaos_stats.regional(ds.drop_vars("twin_recovered"), split="recovered", method="twin")
    with pytest.raises(common.AnalysisError, match="or recovered"):
        chaos_stats.regional(ds, split="recoverd")


def lyapunov_dataset(values, dims, coords):
    return xr.Dataset({"outcome": outcome_var(dims, np.zeros(values.shape, bool)), "lyapunov": (dims, values),
                       "done": (dims, np.ones(values.shape, np.uint8))}, coords=coords)


def test_lyapunov_summary_per_region():
    """Random points: lyapunov > 0 (a mixed region) above lr 0.05, < 0 below; NaN (setting
    twins) never counts. Over a sample axis the runs are replicates: a Wilson interval."""
    rng = np.random.default_rng(6)
    lr = rng.uniform(0.0, 0.1, 3000)
    values = np.where(lr > 0.05, rng.normal(2e-3, 5e-4, lr.size), rng.normal(-1e-3, 2e-4, lr.size))
    values[::10] = np.nan
    ds = lyapunov_dataset(values, ("sample",), {"lr": ("sample", lr)})
    regions = [("high", {"lr": (0.05, 0.1)}), ("low", {"lr": (0.0, 0.05)})]
    mask = {n: chaos_stats.region_mask(ds, b) for n, b in regions}
    for name, want_fraction in [("high", 1.0), ("low", 0.0)]:
        s = chaos_stats.lyapunov_summary(ds, mask[name])
        v = values[mask[name].values & np.isfinite(values)]
        assert s["runs"] == v.size and s["variable"] == "lyapunov"
        assert s["fraction"] == pytest.approx(want_fraction, abs=0.01)
        assert [s["q10"], s["q50"], s["q90"]] == pytest.approx(np.quantile(v, [0.1, 0.5, 0.9]))
        assert (s["lo"], s["hi"]) == pytest.approx(common.wilson(np.sum(v > 0), v.size))
    # a deterministic grid: a plain share, no interval; an older file's `ftle` is read the same
    grid = lyapunov_dataset(values[:2500].reshape(50, 50), ("lr", "bias_delta"),
                            {"lr": np.linspace(0, 0.1, 50), "bias_delta": np.linspace(0, 0.2, 50)})
    s = chaos_stats.lyapunov_summary(grid.rename(lyapunov="ftle"), True)
    assert s["variable"] == "ftle" and np.isnan(s["lo"]) and s["how"].startswith("plain share")
    assert s["runs"] == np.isfinite(values[:2500]).sum()
    assert chaos_stats.lyapunov_summary(grid.assign(lyapunov=grid["lyapunov"] * np.nan), True) is None


def test_regional_reports_lyapunov_and_box_per_region():
    """On a map: the Lyapunov quantiles and the box dimension per region, in the Dataset and in words."""
    y, x = np.mgrid[:128, :128]
    ds = field_dataset(y < 0.5 * x + 20).assign(lyapunov=(("bias_delta", "lr"), np.where(x < 64, -1e-3, 1e-3)))
    lr = ds["lr"].values
    regions = [("left", {"lr": (0, lr[63])}), ("right", {"lr": (lr[64], 1)})]
    u = chaos_stats.regional(ds, regions, n_boot=50)
    assert u["lyap_fraction"].values.tolist() == [0.0, 1.0]
    assert u["lyapunov"].sel(region="right", quantile=0.5).item() == pytest.approx(1e-3)
    assert u["lyap_runs"].values.tolist() == [64 * 128, 64 * 128]
    assert np.isnan(u["lyap_lo"].values).all()  # a grid: no interval
    lines = chaos_stats.region_lines(u)
    assert "Lyapunov: 8192 runs, quantiles 10/25/50/75/90 %: 0.001 0.001 0.001 0.001 0.001; fraction > 0: 1.000" in \
        [line.strip() for line in lines]
    assert u["box_dim"].values == pytest.approx([1.0, 1.0], abs=0.15)


def setting_twin_map(rows=64, cols=64, eps=(1e-3, 1e-2, 1e-1), config=""):
    """lr x bias_delta x twin_eps as a setting twin over bias_delta makes it: perfect below
    a straight line in (lr index, bias_delta), the twin's outcome is the outcome at
    bias_delta + eps; lyapunov NaN (setting twins have none) except in a state-twin corner."""
    lr, delta, eps = np.logspace(-3, -1, cols), np.linspace(0, 1, rows), np.array(eps)
    line = 0.3 + 0.4 * np.arange(cols)[None, :, None] / cols  # boundary delta per lr column
    perfect = np.broadcast_to(delta[:, None, None] < line, (rows, cols, eps.size))
    twin = (delta[:, None, None] + eps[None, None, :]) < line
    dims = ("bias_delta", "lr", "twin_eps")
    lyap = np.full(perfect.shape, np.nan)
    lyap[:8, :8] = 1e-3
    return xr.Dataset({"outcome": outcome_var(dims, perfect), "twin_outcome": outcome_var(dims, twin),
                       "lyapunov": (dims, lyap), "done": (dims, np.ones(perfect.shape, np.uint8))},
                      coords={"lr": lr, "bias_delta": delta, "twin_eps": eps}, attrs={"config": config})


def test_setting_twins_on_a_map():
    """Twins at delta + eps on a map with a smooth boundary: alpha ~ 1 by the twin method,
    which auto picks over the twin_eps axis; with one eps only, auto takes the grid."""
    ds = setting_twin_map()
    u = chaos_stats.regional(ds, n_boot=200)
    assert u.attrs["method"] == "twin" and u["eps"].values.tolist() == [1e-3, 1e-2, 1e-1]
    assert one(u, "interval") == f"bootstrap over {64 * 64} runs"
    assert one(u, "alpha") == pytest.approx(1.0, abs=0.15) and one(u, "verdict").startswith("falls like eps")
    assert one(u, "box_dim") == pytest.approx(1.0, abs=0.25)
    assert one(u, "lyap_runs") == 64 * 3  # the finite values only
    assert chaos_stats.regional(ds.isel(twin_eps=[1]), n_boot=0).attrs["method"] == "grid"


def test_script_on_written_files(tmp_path, capsys):
    """The command line on files written like the engine's: a map with setting twins and
    config regions (figure with the Lyapunov panel), and random points (no figure)."""
    config = "# region low: lr in [1e-3, 1e-2]\n# region high: lr in [1e-2, 0.1]\n"
    path, out = tmp_path / "map.h5", tmp_path / "map.png"
    setting_twin_map(config=config).to_netcdf(path, engine="h5netcdf")
    assert chaos_stats.main([str(path), "--bootstrap", "50", "-o", str(out)]) == 0
    check_image(out, chaos_stats.SIZE_FOUR)
    text = capsys.readouterr().out
    assert "method twin (each run against its twin)" in text
    assert re.search(r"alpha = 1\.\d{3} \[\S+, \S+\] \(bootstrap over \d+ runs\): falls like eps",
                     "\n".join(region_block(text, "low")))
    path = tmp_path / "sample.h5"
    twin_dataset(lambda lr, delta: np.zeros(lr.shape)).to_netcdf(path, engine="h5netcdf")
    assert chaos_stats.main([str(path), "--region", "lr in [0, 1]", "-o", str(tmp_path / "no.png")]) == 0
    text = capsys.readouterr().out
    assert "no map drawn" in text and not (tmp_path / "no.png").exists()
    assert printed(region_block(text, "region1"), "alpha =").endswith("flat: riddled or fully mixed")
