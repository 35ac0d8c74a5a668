"""aesweep.float64_agreement: check.float64's table, counted from the file's own variables."""
import h5py
import numpy as np
import pytest

from conftest import produce
from aesweep import common
from aesweep.census import agreement_rows, float64_agreement


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    return produce(tmp_path_factory, "check.cfg", "check.h5")


def test_the_table_counts_float32_against_float64_outcomes(checked):
    a = float64_agreement(common.open_dataset(checked))
    with h5py.File(checked, "r") as f:
        outcome, f64 = f["outcome"][()], f["float64_outcome"][()]
        names = f["outcome"].attrs["flag_meanings"].split()
    picked = f64 >= 0
    assert int(a["checked"].sel(outcome="all")) == picked.sum() == 24
    assert int(a["agree"].sel(outcome="all")) == (outcome[picked] == f64[picked]).sum()
    assert (outcome[picked] != f64[picked]).any()  # something to count
    for code, name in enumerate(names):
        for other, name64 in enumerate(names):
            want = np.sum(picked & (outcome == code) & (f64 == other))
            assert int(a["float64"].sel(outcome=name, float64_outcome=name64)) == want, (name, name64)
    lo, hi = float(a["lo"].sel(outcome="all")), float(a["hi"].sel(outcome="all"))
    assert lo < float(a["fraction"].sel(outcome="all")) <= hi
    header, rows = agreement_rows(a)
    assert rows[0][0] == "all" and all(int(r[1]) > 0 for r in rows)


def test_no_check_no_table(tiny):
    assert float64_agreement(common.open_dataset(tiny)) is None
