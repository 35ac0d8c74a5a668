"""The optimizer state kept across files (DESIGN.md section 9): output.optimizer_state writes
it, init.optimizer_state = "keep" continues it, and a run of T1 + T2 steps equals a run of T1
steps continued for T2, bit for bit, parameters and moments alike."""
import h5py
import numpy as np
import pytest

from e2e_support import run_aesweep

T2 = 130
# base states after 0, 120 and 170 steps, in one grid: their continuations share a CPU lane
# group (same T2), so lanes continue from different t0 side by side, the fresh ones first
# (SGD's first-step rule is each lane's own)
T1 = [0, 120, 170]
SEEDS = 4
STATE = ["W_final", "b_final", "opt_m_W", "opt_m_b", "opt_v_W", "opt_v_b", "opt_step", "opt_optimizer"]

OPTIMIZERS = {
    # SGD with momentum: the buffer carries over, the first-step rule (buffer = gradient) must not fire again
    "sgd": 'optimizer = "sgd"; lr = 0.2; momentum = 0.9; weight_decay = 0.001;',
    # beta2^t <= 2^-54 from t = 73 on: both corrections reach {1, 1} before t0 (the products stop early)
    "adam": 'optimizer = "adam"; lr = 0.02; beta1 = 0.5; beta2 = 0.6; weight_decay = 0.01;',
    # the defaults: at t0 ~ 150 the corrections are far from 1 (1 / sqrt(1 - 0.999^t) ~ 2.7)
    "adamw": 'optimizer = "adamw"; lr = 0.01;',
}


def population(optimizer, precision, steps, extra=""):
    return f"""
model = {{ n = 5; m = 2; precision = "{precision}"; }};
init  = {{ scheme = "xavier_normal"; }};
train = {{ {OPTIMIZERS[optimizer]} check_every = 10; }};
outcome = {{ window = 100; }};
output = {{ optimizer_state = true; }};
grid  = ( {{ param = "train.steps"; values = [{", ".join(map(str, steps))}]; }},
          {{ param = "init.seed"; range = [0, {SEEDS}]; }} );
{extra}"""


def continuation(optimizer, precision, base, state="keep", steps=T2, extra=""):
    return f"""
model = {{ precision = "{precision}"; }};
init  = {{ scheme = "file"; file = "{base}"; select = "all"; optimizer_state = "{state}"; }};
train = {{ {OPTIMIZERS[optimizer]} steps = {steps}; check_every = 10; }};
outcome = {{ window = 100; }};
output = {{ optimizer_state = true; }};
{extra}"""


def read(path, names=STATE):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in names}


def sweep(write_config, tmp_path, name, text):
    out = tmp_path / f"{name}.h5"
    run_aesweep("run", write_config(text, f"{name}.cfg"), "-o", out, "--quiet", "--force", "--backend", "cpu")
    return out


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_t1_plus_t2_steps_equal_t_steps_bit_for_bit(tmp_path, write_config, optimizer, precision):
    base = sweep(write_config, tmp_path, "base", population(optimizer, precision, T1))
    straight = sweep(write_config, tmp_path, "straight", population(optimizer, precision, [t + T2 for t in T1]))
    kept = sweep(write_config, tmp_path, "kept", continuation(optimizer, precision, base))
    want, got = read(straight), read(kept)
    # the continuation's grid is the base axis (the base file's runs in order): reshape to (steps, seed)
    for name in STATE:
        assert got[name].reshape(want[name].shape).tobytes() == want[name].tobytes(), name
    assert (got["opt_step"] == np.repeat([t + T2 for t in T1], SEEDS)).all()
    assert (got["opt_optimizer"] == ["sgd", "adam", "adamw"].index(optimizer)).all()
    if optimizer == "sgd":
        assert (got["opt_v_W"] == 0).all()  # SGD has no second moment
    # "reset" starts afresh: it loses the trajectory (so "keep" above did carry something)
    reset = read(sweep(write_config, tmp_path, "reset", continuation(optimizer, precision, base, "reset")))
    assert not np.array_equal(reset["W_final"].reshape(want["W_final"].shape), want["W_final"])
    assert (reset["opt_step"] == T2).all()


def test_reset_and_keep_from_step_0_are_a_fresh_run(tmp_path, write_config):
    """At step 0 the optimizer is fresh: "reset" (as every file run did before "keep" existed) and
    "keep" both continue it exactly as the run that never stopped."""
    base = sweep(write_config, tmp_path, "base", population("adamw", "float32", [0]))
    straight = read(sweep(write_config, tmp_path, "straight", population("adamw", "float32", [T2])))
    for state in ["reset", "keep"]:
        got = read(sweep(write_config, tmp_path, state, continuation("adamw", "float32", base, state)))
        for name in STATE:
            assert got[name].reshape(straight[name].shape).tobytes() == straight[name].tobytes(), (state, name)


def test_trajectories_and_twins_continue_the_kept_state(tmp_path, write_config):
    base = sweep(write_config, tmp_path, "base", population("adam", "float32", T1))
    traj = 'trajectory = { every = 10; runs = [0, 5]; };\ntwin = { eps = 0.0; renorm_every = 0; };'
    out = sweep(write_config, tmp_path, "kept", continuation("adam", "float32", base, extra=traj))
    straight = read(sweep(write_config, tmp_path, "straight", population("adam", "float32", [t + T2 for t in T1])))
    with h5py.File(out, "r") as f:
        W = f["W_final"][()]
        # the trajectory (trained apart, on the CPU's one-model path) ends where its run ends
        for k, run in enumerate(f["trajectory/run"][()]):
            assert f["trajectory/W"][k, -1].tobytes() == W[run].tobytes()
        # a state twin started 0 away, with the same kept moments, never leaves its run
        assert (f["twin_distance"][()] == 0).all()
    assert W.tobytes() == straight["W_final"].reshape(W.shape).tobytes()


def test_keep_needs_the_variables_and_a_compatible_optimizer(tmp_path, write_config):
    plain = tmp_path / "plain.h5"
    run_aesweep("run", write_config(population("adamw", "float32", [50]).replace(
        "output = { optimizer_state = true; };", ""), "plain.cfg"), "-o", plain, "--quiet")
    with h5py.File(plain, "r") as f:
        assert not any(k.startswith("opt_") for k in f)  # big: written only when asked
    proc = run_aesweep("run", write_config(continuation("adamw", "float32", plain), "c.cfg"), "-o",
                       tmp_path / "c.h5", "--quiet", check=False)
    assert proc.returncode == 2, proc.stderr
    assert str(plain) in proc.stderr and "opt_" in proc.stderr and "output.optimizer_state = true" in proc.stderr
    assert not (tmp_path / "c.h5").exists()

    base = sweep(write_config, tmp_path, "base", population("adam", "float32", [50]))
    proc = run_aesweep("run", write_config(continuation("sgd", "float32", base), "s.cfg"), "-o", tmp_path / "s.h5",
                       "--quiet", check=False)
    assert proc.returncode == 2 and "adam" in proc.stderr and "sgd" in proc.stderr and str(base) in proc.stderr
    # adamw continues adam's moments (both are Adam's m, v and t)
    sweep(write_config, tmp_path, "w", continuation("adamw", "float32", base))

    for bad, words in [('output = { fields = ["outcome", "opt_m_W"]; };', "output.optimizer_state = true"),
                       ('init = { optimizer_state = "keep"; };', 'init.scheme = "file"'),
                       ('init = { scheme = "file"; file = "x.h5"; optimizer_state = "yes"; };', '"keep"')]:
        proc = run_aesweep("run", write_config(bad, "bad.cfg"), "-o", tmp_path / "bad.h5", "--quiet", check=False)
        assert proc.returncode == 2 and words in proc.stderr, (bad, proc.stderr)
