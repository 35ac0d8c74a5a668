"""aesweep info and the Python census count the same runs: runs that differ only along an
axis whose setting they do not use (train.beta2 under SGD, intervene.delta without an
intervention that reads it) are one run, counted once by both (issue 25's "rules twice")."""
import re

import h5py

from aesweep import census, common
from e2e_support import run_aesweep

DUP = """
model = { n = 5; m = 2; };
train = { optimizer = "sgd"; lr = 0.1; weight_decay = 0.0; steps = 300; };
grid  = ( { param = "init.seed"; range = [0, 20]; },
          { param = "train.optimizer"; values = ["sgd", "adam"]; },
          { param = "train.momentum"; values = [0.0, 0.9]; },
          { param = "train.beta2"; values = [0.99, 0.999]; } );
"""


def test_info_and_census_count_identical_runs_once(tmp_path, write_config):
    out = tmp_path / "dup.h5"
    run_aesweep("run", write_config(DUP), "-o", out, "--quiet")
    with h5py.File(out) as f:
        assert f["beta2"].attrs["used_only_where"] == "train.optimizer (optimizer) in adam adamw"
        assert f["momentum"].attrs["used_only_where"] == "train.optimizer (optimizer) in sgd"
        assert "used_only_where" not in f["seed"].attrs
    # sgd: 20 seeds x 2 momenta (beta2 unused); adam: 20 seeds x 2 beta2 (momentum unused)
    text = run_aesweep("info", "--wide", out).stdout
    info_all = int(re.search(r"^  all +(\d+) ", text, re.M).group(1))
    assert info_all == 80
    ds = common.open_dataset(str(out))
    t = census.census(ds)
    assert int(t["done"].sum()) == 80
    by = census.census(ds, "optimizer")
    assert by["done"].values.tolist() == [40, 40]
    assert int(census.trust(ds)["runs"].sel(outcome="all")) == 80
    assert int(common.distinct_mask(ds).sum()) == 80 and ds["done"].size == 160
