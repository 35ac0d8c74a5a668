"""analysis.chaos_stats: box counting against known dimensions, and the script on engine files."""
import re
import shutil

import h5py
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
    # the FTLE summary
    ftle, _ = raw(twin, "ftle")
    ftle = ftle[done & np.isfinite(ftle)]
    m = re.fullmatch(r"(\d+) runs, fraction > 0: (\S+) \[(\S+), (\S+)\], median (\S+) 1/step",
                     printed(text, "FTLE:"))
    assert m, text
    assert int(m[1]) == ftle.size == done.sum()
    assert float(m[2]) == pytest.approx(np.mean(ftle > 0), abs=5e-4)
    assert (float(m[3]), float(m[4])) == pytest.approx(common.wilson(np.sum(ftle > 0), ftle.size), abs=5e-4)
    assert float(m[5]) == pytest.approx(np.median(ftle), rel=1e-3)


def test_chaos_stats_recovered_base3_pdf(twin, tmp_path, capsys):
    out = tmp_path / "stats.pdf"
    assert chaos_stats.main([twin, "--label", "recovered", "--base", "3", "--reduce", "median",
                             "--x", "bias_delta", "--y", "lr", "-o", str(out)]) == 0
    assert out.read_bytes()[:5] == b"%PDF-"
    text = capsys.readouterr().out
    assert printed(text, "label:").startswith("recovered")
    assert printed(text, "box counting (base 3):").startswith("s = 1 3;")


def test_chaos_stats_without_twins(chaos, tmp_path, capsys):
    """chaos.h5 has no twin runs (ftle all NaN) and a 5 x 4 grid: one box size only."""
    out = tmp_path / "stats.png"
    assert chaos_stats.main([chaos, "-o", str(out)]) == 0
    check_image(out, chaos_stats.SIZE_TWO)
    text = capsys.readouterr().out
    assert printed(text, "FTLE:").startswith("none in this file")
    assert printed(text, "box-counting dimension:").startswith("undefined")


@pytest.fixture
def stripped(twin, tmp_path):
    """twin.h5 without the `ftle` and `recovered` variables."""
    path = tmp_path / "stripped.h5"
    shutil.copy(twin, path)
    with h5py.File(path, "r+") as f:
        del f["ftle"], f["recovered"]
    return str(path)


def test_no_ftle_variable_and_missing_label(stripped, tmp_path, capsys):
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
