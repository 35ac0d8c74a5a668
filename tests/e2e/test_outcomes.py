"""Outcome classes, plateaus and the census statistics, on runs the engine trains:
the labels are checked against the physics (DESIGN.md section 3), recomputed in float64."""
import re

import h5py
import numpy as np
import pytest

from e2e_support import run_aesweep

NAMES = ["perfect", "symmetric_failure", "pinned_failure", "dead_failure", "interference_failure",
         "still_learning", "diverged"]
CODE = {name: code for code, name in enumerate(NAMES)}

CENSUS = """
model = { n = 7; m = 2; };
init  = { scheme = "xavier_normal"; seed = 0; };
train = { optimizer = "adamw"; lr = 1e-3; weight_decay = 0.01; steps = STEPS; check_every = 100; plateau_steps = 2000; };
grid  = ( { param = "init.seed"; range = [0, 160]; } );
"""


@pytest.fixture(scope="module")
def census(tmp_path_factory):
    """160 seeds of census_n7 at 5 000 and 16 000 steps."""
    folder = tmp_path_factory.mktemp("census")
    out = {}
    for steps in (5000, 16000):
        cfg = folder / f"c{steps}.cfg"
        cfg.write_text(CENSUS.replace("STEPS", str(steps)))
        out[steps] = folder / f"c{steps}.h5"
        run_aesweep("run", cfg, "-o", out[steps], "--quiet")
    return out


def read(path, *names):
    with h5py.File(path, "r") as f:
        return [f[name][()] for name in names]


def classify_f64(W, b, converged, tilt_max=0.5):  # the engine's default outcome.tilt_max
    """DESIGN.md section 3 in float64 NumPy: (outcome code, tilt) of one run's end state."""
    W, b = W.astype(np.float64), b.astype(np.float64)
    G = W @ W.T
    Y = np.maximum(G + b[:, None], 0)  # Y_ij: output i on input j
    learnt = np.diag(Y) >= 0.5
    if np.all(np.abs(Y - np.eye(len(b))) < 0.5):
        return CODE["perfect"], np.nan
    firing = np.where(~learnt & (b > 0))[0]
    tilts = [np.max(np.abs(np.delete(G[i], i))) / b[i] for i in firing]
    tilt = tilts[int(np.argmax(b[firing]))] if len(firing) else np.nan
    if not converged:
        return CODE["still_learning"], tilt
    if len(firing):
        return (CODE["symmetric_failure"] if min(tilts) < tilt_max else CODE["pinned_failure"]), tilt
    if not learnt.all():
        return CODE["dead_failure"], tilt
    return CODE["interference_failure"], tilt


def test_flag_meanings_name_the_classes(census):
    with h5py.File(census[5000], "r") as f:
        assert f["outcome"].attrs["flag_meanings"].split() == NAMES
        assert list(f["plateau_kind"].attrs["flag_meanings"].split()) == ["none", NAMES[1], NAMES[2]]
        assert f["recovered"].dtype == np.uint8 and f["outcome"].dtype == np.int8


def test_float64_classes_and_tilts_of_real_runs(census):
    """Every run's outcome and tilt, recomputed in float64 from W_final, b_final."""
    for path in census.values():
        outcome, tilt, W, b, converged, change = read(path, "outcome", "tilt", "W_final", "b_final", "converged",
                                                      "loss_change")
        assert np.array_equal(converged == 1, np.abs(change) <= 3e-3)
        failures = 0
        for r in range(len(outcome)):
            want, want_tilt = classify_f64(W[r], b[r], converged[r] == 1)
            assert outcome[r] == want, (path, r, outcome[r], want)
            assert np.isnan(tilt[r]) == np.isnan(want_tilt) or outcome[r] == CODE["perfect"]
            if not np.isnan(want_tilt):
                np.testing.assert_allclose(tilt[r], want_tilt, rtol=1e-4, atol=1e-7)
            failures += outcome[r] != CODE["perfect"]
        assert failures > 0  # there is something to check


def test_short_training_labels_falling_runs_still_learning(census):
    """At 5 000 steps many runs are still moving: they are still_learning, not failures; a
    failure label means the loss is flat."""
    outcome, change, converged = read(census[5000], "outcome", "loss_change", "converged")
    assert (outcome == CODE["still_learning"]).sum() >= 5
    failure = np.isin(outcome, [1, 2, 3, 4])
    assert (converged[failure] == 1).all() and (np.abs(change[failure]) <= 3e-3).all()
    assert (converged[outcome == CODE["still_learning"]] == 0).all()
    # the runs still learning at 5 000 steps mostly end perfect by 16 000
    later, = read(census[16000], "outcome")
    assert np.mean(later[outcome == CODE["still_learning"]] == CODE["perfect"]) > 0.5


def test_plateaus_recoveries_and_slow_learning(census):
    kind, start, length, recovery, recovered, first_perfect, outcome, unlearnt = read(
        census[16000], "plateau_kind", "plateau_start", "plateau_length", "recovery_step", "recovered",
        "first_perfect_step", "outcome", "plateau_unlearnt")
    sat = kind > 0
    assert sat.sum() >= 10 and (~sat).sum() >= 10
    assert (length[sat] >= 2000).all() and (start[sat] >= 0).all() and (unlearnt[sat] >= 1).all()
    assert (start[~sat] == -1).all() and (length[~sat] == -1).all() and (unlearnt[~sat] == -1).all()
    assert np.array_equal(recovered == 1, sat & (outcome == CODE["perfect"]))
    back = recovered == 1
    assert back.sum() >= 1, "no run recovered from its plateau: the recovery rule goes untested"
    assert (recovery[back] > start[back] + length[back]).all()
    assert (recovery[~sat] == -1).all()
    # runs that learnt slowly without ever resting are not recoveries
    slow = (~sat) & (first_perfect > 8000)
    assert slow.sum() >= 1 and (recovered[slow] == 0).all()


def test_ideal_failure_is_symmetric_and_outcome_settings_are_axes(tmp_path, write_config):
    cfg = write_config("""
model = { n = 7; m = 2; };
init  = { scheme = "ideal_failure"; };
train = { steps = 0; };
grid  = ( { param = "outcome.tilt_max"; values = [0.001, 0.1]; },
          { param = "init.dead_eps";    values = [0.001, 0.05]; } );
""")
    run_aesweep("run", cfg, "-o", tmp_path / "ideal.h5", "--quiet")
    outcome, tilt = read(tmp_path / "ideal.h5", "outcome", "tilt")
    # tilt = dead_eps * R cos(30 deg) / (1/7): 0.00866 and 0.433
    np.testing.assert_allclose(tilt[0], [0.001 * np.sqrt(2) * 1.01 * np.cos(np.pi / 6) * 7,
                                         0.05 * 1.4284271 * np.cos(np.pi / 6) * 7], rtol=1e-4)
    assert outcome.tolist() == [[CODE["pinned_failure"]] * 2, [CODE["symmetric_failure"], CODE["pinned_failure"]]]


def test_huge_bias_is_not_perfect(tmp_path, write_config):
    cfg = write_config('model = { n = 7; m = 2; };\ninit = { bias_init = 1e6; };\ntrain = { steps = 200; };\n')
    run_aesweep("run", cfg, "-o", tmp_path / "b.h5", "--quiet")
    outcome, loss = read(tmp_path / "b.h5", "outcome", "loss")
    assert loss > 1e10 and outcome != CODE["perfect"]


def test_select_by_outcome_names(tmp_path, write_config):
    source = tmp_path / "ideal.h5"
    run_aesweep("run", write_config('init = { scheme = "ideal_failure"; };\ntrain = { steps = 0; };\n', "i.cfg"),
                "-o", source, "--quiet")
    text = f'init = {{ scheme = "file"; file = "{source}"; select = "SELECT"; }};\ntrain = {{ steps = 0; }};\n'
    ok = write_config(text.replace("SELECT", "all:pinned_failure,symmetric_failure"), "ok.cfg")
    run_aesweep("run", ok, "-o", tmp_path / "ok.h5", "--quiet")
    old = write_config(text.replace("SELECT", "first:mean_bias_failure"), "old.cfg")
    proc = run_aesweep("run", old, "-o", tmp_path / "old.h5", check=False)
    assert proc.returncode == 2
    assert "old.cfg" in proc.stderr and "init.select" in proc.stderr
    assert "symmetric_failure" in proc.stderr and "pinned_failure" in proc.stderr
    proc = run_aesweep("run", write_config(text.replace("SELECT", "all:stuck"), "bad.cfg"), "-o",
                       tmp_path / "bad.h5", check=False)
    assert proc.returncode == 2 and "unknown outcome \"stuck\"" in proc.stderr and "still_learning" in proc.stderr


def test_select_reads_the_source_files_own_class_names(tmp_path, write_config):
    """A base-state file of the earlier engine numbers its classes otherwise (1 was
    mean_bias_failure, 2 dead_failure): selection goes by the names in its flag_meanings."""
    source = tmp_path / "old_engine.h5"
    run_aesweep("run", write_config('init = { seed = 3; };\ntrain = { steps = 0; };\n'
                                    'grid = ( { param = "init.seed"; range = [0, 4]; } );\n', "s.cfg"),
                "-o", source, "--quiet")
    with h5py.File(source, "r+") as f:  # as the earlier engine wrote it
        f["outcome"][...] = np.array([1, 2, 0, 2], dtype=np.int8)
        f["outcome"].attrs["flag_values"] = np.arange(4, dtype=np.int8)
        f["outcome"].attrs["flag_meanings"] = "perfect mean_bias_failure dead_failure diverged"
    text = f'init = {{ scheme = "file"; file = "{source}"; select = "SELECT"; }};\ntrain = {{ steps = 0; }};\n'
    run_aesweep("run", write_config(text.replace("SELECT", "all:dead_failure"), "d.cfg"), "-o", tmp_path / "d.h5",
                "--quiet")
    with h5py.File(tmp_path / "d.h5", "r") as f:  # its code 2, not this version's 2 (pinned_failure)
        assert f["base"][()].tolist() == [1, 3]
    proc = run_aesweep("run", write_config(text.replace("SELECT", "first:pinned_failure"), "p.cfg"), "-o",
                       tmp_path / "p.h5", check=False)
    assert proc.returncode != 0 and "no run of" in proc.stderr
    assert "perfect mean_bias_failure dead_failure diverged" in proc.stderr  # the file's own classes
    text = run_aesweep("info", "--wide", source).stdout  # info counts them by the file's names too
    assert "1 finished runs carry outcome classes this aesweep does not have" in text
    all_row = next(line for line in text.splitlines() if line.strip().startswith("all"))
    assert all_row.split()[1] == "3"  # mean_bias_failure in no column: 1 perfect, 2 dead of 3 counted
    assert re.search(r"all\s+3\s+33\.33%.*?0\.00%.*?0\.00%.*?66\.67%", all_row)


def test_window_beyond_the_tracker_is_refused(tmp_path, write_config):
    cfg = write_config("train = { check_every = 10; };\noutcome = { window = 1000; };\n")
    proc = run_aesweep("run", cfg, "-o", tmp_path / "w.h5", check=False)
    assert proc.returncode == 2 and "outcome.window" in proc.stderr and "train.check_every" in proc.stderr
    assert "outcome.tilt_max" in run_aesweep("--help").stdout + run_aesweep("run", "--help", check=False).stdout


def info_rows(text, section):
    """{label: [cells...]} of the table under the line `section`."""
    lines = text.splitlines()
    at = lines.index(section)
    rows = {}
    for line in lines[at + 2:]:
        if not line.startswith("  ") or line.startswith("  ..."):
            break
        rows[line.split()[0]] = line
    return rows


def test_info_intervals_only_over_replicates(tmp_path, write_config):
    cfg = write_config("""
model = { n = 5; m = 2; };
train = { steps = 600; };
grid  = ( { param = "train.lr";  values = [0.001, 0.01]; },
          { param = "init.seed"; range = [0, 8]; } );
""")
    run_aesweep("run", cfg, "-o", tmp_path / "i.h5", "--quiet")
    text = run_aesweep("info", "--wide", tmp_path / "i.h5").stdout
    assert "census after 600 training steps" in text
    assert "seed: 8 replicates, pooled in every row" in text
    assert "\nby seed" not in text  # no row per seed
    header = next(line for line in text.splitlines() if "fires_on_every_input" in line)
    assert "symmetric_failure" in header and "still_learning" in header
    all_row = re.search(r"^  all .*$", text, re.M).group(0)
    assert "[" not in all_row  # all runs: over two learning rates, grid cells
    by_lr = info_rows(text, "by lr")
    assert set(by_lr) == {"0.001", "0.01"}
    assert all(row.count("[") == len(NAMES) + 1 for row in by_lr.values())  # each lr: 8 seeds, replicates


def test_info_fits_the_terminal(tmp_path, write_config):
    """Without --wide: no line wider than $COLUMNS, the columns of outcomes no run has named
    instead, a long axis at evenly spaced values (its ends included), replicate intervals
    kept (the `all` row one outcome a line when they do not fit); --by shows one axis whole."""
    cfg = write_config("""
model = { n = 5; m = 2; };
train = { steps = 400; };
grid  = ( { param = "train.lr";  logspace = [-3.0, -1.0, 40]; },
          { param = "init.seed"; range = [0, 6]; } );
""")
    out = tmp_path / "f.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    text = run_aesweep("info", out, env={"COLUMNS": "100"}).stdout
    assert max(len(line) for line in text.splitlines()) <= 100, max(text.splitlines(), key=len)
    assert "(their columns are left out; --wide shows every column)" in text
    by_lr = info_rows(text, text.splitlines()[next(i for i, l in enumerate(text.splitlines()) if l.startswith("by lr"))])
    assert 10 <= len(by_lr) <= 16 and "0.001" in by_lr and "0.1" in by_lr
    seeds = tmp_path / "seeds.h5"  # one lr: the all row's runs are replicates, intervals too wide to fit
    run_aesweep("zoom", out, "-o", seeds, "--quiet", "--grid", "lr=values:0.01", "--grid", "seed=range:0:60")
    text = run_aesweep("info", seeds, env={"COLUMNS": "100"}).stdout
    assert re.search(r"^  all +60 +[\d.]+% \[", text, re.M)  # fits: one row, its intervals
    text = run_aesweep("info", seeds, env={"COLUMNS": "60"}).stdout
    assert re.search(r"^  perfect +\d+ +[\d.]+%  \[ *[\d.]+, +[\d.]+\]$", text, re.M), text  # transposed
    whole = run_aesweep("info", "--by", "lr", out, env={"COLUMNS": "100"}).stdout
    rows = whole.splitlines()
    assert len(info_rows(whole, next(l for l in rows if l.startswith("by lr")))) == 40
    wide = run_aesweep("info", "--wide", out).stdout
    assert len(info_rows(wide, "by lr")) == 40 and all(name in wide for name in NAMES)
    assert "no such axis" in run_aesweep("info", "--by", "beta", out).stdout
    assert run_aesweep("info", "--wider", out, check=False).returncode == 2


def test_info_counts_identical_runs_once(tmp_path, write_config):
    """`none` and `anthropic` ignore intervene.delta: their runs at delta 0.1 repeat those at 0."""
    source = tmp_path / "ideal.h5"
    run_aesweep("run", write_config('init = { scheme = "ideal_failure"; };\ntrain = { steps = 0; };\n', "i.cfg"),
                "-o", source, "--quiet")
    cfg = write_config(f"""
init      = {{ scheme = "file"; file = "{source}"; select = "all"; }};
train     = {{ steps = 300; }};
intervene = {{ method = "none"; at_step = 0; }};
grid      = ( {{ param = "intervene.method"; values = ["none", "anthropic", "repulsor"]; }},
              {{ param = "intervene.delta";  values = [0.0, 0.1]; }} );
""")
    run_aesweep("run", cfg, "-o", tmp_path / "r.h5", "--quiet")
    text = run_aesweep("info", tmp_path / "r.h5").stdout
    assert "2 runs identical by construction counted once" in text and "intervene_delta" in text
    rows = info_rows(text, "by intervention")
    assert rows["none"].split()[1] == "1" and rows["anthropic"].split()[1] == "1" and rows["repulsor"].split()[1] == "2"
    assert re.search(r"^  all +4 ", text, re.M)
