"""trajectory.select, --set for lists, text and trajectory.*, `aesweep COMMAND --help`, and
the one-line CUDA fallback note (issue 15)."""
import json

import h5py
import pytest

from e2e_support import run_aesweep

CHAOS = """
model   = { n = 7; m = 2; };
init    = { scheme = "ideal_failure"; };
train   = { steps = 300; };
grid    = ( { param = "train.lr";           logspace = [-3.0, -1.0, 5]; },
            { param = "perturb.bias_delta"; linspace = [0.0, 0.2, 4]; } );
"""


def stored(path):
    with h5py.File(path, "r") as f:
        return f["trajectory/run"][()].tolist(), json.loads(f.attrs["config_json"])


def test_select_by_coordinates_nearest_grid_point(tmp_path, write_config):
    cfg = write_config(CHAOS + """trajectory = { every = 50; runs = [3];
        select = ( { lr = 0.0101; bias_delta = 0.07; }, { lr = 1.0; }, { bias_delta = 0.2; lr = 1e-3; } ); };""")
    out = tmp_path / "out.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    runs, config = stored(out)
    # lr 0.0101 -> 0.01 (index 2), delta 0.07 -> 0.0667 (1): 2 * 4 + 1; lr 1.0 -> 0.1 (4), delta first: 16
    assert runs == [3, 9, 16] and config["trajectory.runs"] == [3, 9, 16]  # run 3 (lr 1e-3, delta 0.2) once


def test_set_trajectory_and_lists(tmp_path, write_config):
    out = tmp_path / "out.h5"
    run_aesweep("run", write_config(CHAOS), "-o", out, "--quiet", "--set", "trajectory.every=100",
                "--set", "trajectory.select={ lr = 0.03; bias_delta = 0.2; }", "--set", "perturb.features=[0, 1]")
    runs, config = stored(out)
    assert runs == [15] and config["trajectory.every"] == 100 and config["perturb.features"] == [0, 1]
    with h5py.File(out, "r") as f:
        assert f["trajectory/step"][()].tolist() == [0, 100, 200, 300]
    run_aesweep("run", write_config(CHAOS), "-o", out, "--quiet", "--force",
                "--set", "trajectory.runs=[1, 2]", "--set", "trajectory.every=150")
    assert stored(out)[0] == [1, 2]


@pytest.mark.parametrize("setting, message", [
    ("trajectory.select={ seed = 1; }", "--set trajectory.select: seed is not a grid axis (axes: lr, bias_delta)"),
    ("trajectory.runs=[1, 2", "--set trajectory.runs: cannot read"),
    ("trajectory.speed=1", "--set trajectory.speed: unknown key"),
    ("trajectory.runs=[1]", "trajectory needs every"),
    ("perturb.features=[0, 300]", "--set perturb.features: feature 300 is out of range"),
    ("train.lr=[0.1, 0.2]", "--set train.lr: expects a number, got an array"),
])
def test_bad_set_of_lists_is_a_clear_error(tmp_path, write_config, setting, message):
    proc = run_aesweep("run", write_config(CHAOS), "-o", tmp_path / "out.h5", "--set", setting, check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "out.h5").exists()


def test_set_text_setting_with_quotes(tmp_path, write_config):
    proc = run_aesweep("run", write_config(CHAOS), "-o", tmp_path / "out.h5", "--set", 'init.file=my "x".h5',
                       check=False)
    assert proc.returncode == 2 and "init.file, init.select and init.optimizer_state need init.scheme" in proc.stderr, proc.stderr


@pytest.mark.parametrize("command, words", [
    ("run", ["run CONFIG", "--resume", "train.lr", "trajectory.select", "trajectory.every", "init.file"]),
    ("info", ["usage: aesweep info [--wide] [--by AXIS] OUT.h5"]),
    ("zoom", ["usage: aesweep zoom MAP.h5", "--grid PARAM=SPEC"]),
    ("merge", ["usage: aesweep merge", "SHARD.h5"]),
    ("bench", ["usage: aesweep bench"]),
])
def test_command_help(command, words):
    for flag in ("--help", "-h"):
        proc = run_aesweep(command, flag)
        assert proc.returncode == 0 and proc.stderr == ""
        for word in words:
            assert word in proc.stdout, (command, word)


def test_cuda_fallback_note_is_one_short_line(tmp_path, write_config):
    proc = run_aesweep("run", write_config(CHAOS.replace("300", "10")), "-o", tmp_path / "out.h5", "--backend", "auto")
    notes = [line for line in proc.stderr.splitlines() if "note:" in line]
    assert len(notes) <= 1 and all(len(line) <= 100 and ".c:" not in line and ".cu:" not in line for line in notes)
