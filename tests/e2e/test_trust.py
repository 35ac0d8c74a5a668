"""DESIGN.md section 9 through the real binary: `frozen`, the failures split by their
unlearnt features and the stability counts in `aesweep info`'s trust table agree with
the file, and learnt_step agrees with n_learnt and first_perfect_step."""
import h5py
import numpy as np

from e2e_support import run_aesweep

CENSUS = """
model = {{ n = 7; m = 2; precision = "{precision}"; }};
init  = {{ scheme = "xavier_normal"; seed = 0; }};
train = {{ optimizer = "sgd"; lr = 1.0; weight_decay = 0.0; steps = 25000; check_every = 100; plateau_steps = 2000; }};
grid  = ( {{ param = "init.seed"; range = [0, 200]; }} );
{output}
"""
OUTCOMES = ["perfect", "symmetric_failure", "pinned_failure", "dead_failure", "interference_failure",
            "still_learning", "diverged"]


def census(tmp_path, precision="float32", output=""):
    cfg = tmp_path / f"census_{precision}.cfg"
    cfg.write_text(CENSUS.format(precision=precision, output=output))
    out = tmp_path / f"census_{precision}.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet", "--force")
    return out


def trust_rows(info_text):
    """outcome -> the trust table's columns (runs, frozen, saddle, minimum, fr.saddle, unl.1, unl.2, unl.>=3)."""
    lines = info_text.split("\ntrust:", 1)[1].splitlines()
    rows = {}
    for line in lines:
        words = line.split()
        if words and words[0] in OUTCOMES:
            rows[words[0]] = words[1:]
        elif rows and not line.startswith("  "):
            break
    return rows


def test_trust_table_counts_what_the_file_holds(tmp_path):
    out = census(tmp_path)
    with h5py.File(out) as f:
        outcome, frozen = f["outcome"][...], f["frozen"][...]
        neg, n_learnt = f["hessian_neg"][...], f["n_learnt"][...]
    rows = trust_rows(run_aesweep("info", out).stdout)
    assert set(np.unique(frozen)) <= {0, 1} and frozen.sum() > 0
    for k, name in enumerate(OUTCOMES):
        mine = outcome == k
        if not mine.any():
            assert name not in rows
            continue
        unlearnt = 7 - n_learnt[mine]
        want = [mine.sum(), frozen[mine].sum(), (neg[mine] > 0).sum(), (neg[mine] == 0).sum(),
                ((frozen[mine] == 1) & (neg[mine] > 0)).sum(), (unlearnt == 1).sum(), (unlearnt == 2).sum(),
                (unlearnt >= 3).sum()]
        assert [int(v) for v in rows[name]] == [int(v) for v in want], name
    # a symmetric failure has one or more unlearnt features, a perfect run none
    assert int(rows["perfect"][5]) + int(rows["perfect"][6]) + int(rows["perfect"][7]) == 0


def test_trust_table_says_what_the_file_left_out(tmp_path):
    out = census(tmp_path, output='output = { fields = ["outcome", "n_learnt", "loss"]; };')
    text = run_aesweep("info", out).stdout
    assert "-: the file keeps no frozen hessian_neg" in text
    assert all(row[1] == "-" and row[2] == "-" for row in trust_rows(text).values())


def test_float64_carries_what_float32_freezes_at_a_saddle(tmp_path):
    """The physics the label names: float32 SGD at lr 1 leaves saddles held by rounding
    (frozen, hessian_neg > 0) among its symmetric failures; the same seeds in float64 move
    on, so almost none of them end there."""
    f32, f64 = census(tmp_path), census(tmp_path, "float64")
    with h5py.File(f32) as a, h5py.File(f64) as b:
        held = (a["frozen"][...] == 1) & (a["hessian_neg"][...] > 0) & (a["outcome"][...] == 1)
        assert held.sum() > 0
        assert (b["outcome"][...][held] != 1).mean() > 0.9
        assert (b["outcome"][...] == 1).sum() < (a["outcome"][...] == 1).sum()


def test_learnt_step_agrees_with_n_learnt_and_first_perfect_step(tmp_path):
    out = census(tmp_path, "float64")
    with h5py.File(out) as f:
        learnt, n_learnt = f["learnt_step"][...], f["n_learnt"][...]
        outcome, first = f["outcome"][...], f["first_perfect_step"][...]
    assert learnt.shape == (200, 7)
    assert np.array_equal((learnt >= 0).sum(axis=1), n_learnt)
    perfect = outcome == 0
    assert perfect.any()
    assert np.all(learnt[perfect].max(axis=1) >= first[perfect])
    assert np.all(learnt[perfect] % 100 == 0)  # on the check grid
