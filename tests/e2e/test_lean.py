"""Lean outputs (output.fields, issue 14): only the chosen record fields are written, and
every reader of files (info, merge, --resume, init.scheme = "file") copes with the others
missing or says which one it needs."""
import h5py
import numpy as np

from e2e_support import run_aesweep
from test_recovery import FAULT_INJECT, all_data, kill_at_every_write_and_resume, with_fault

LEAN = "outcome,recovery_step,splay"
SWEEP = """
model = { n = 5; m = 2; };
train = { steps = 200; check_every = 50; };
output = { fields = ["outcome", "recovery_step", "splay"]; };
grid  = ( { param = "train.lr"; values = [0.001, 0.1]; },
          { param = "init.seed"; range = [0, 10]; } );
"""


def datasets(path):
    with h5py.File(path, "r") as f:
        return {name: f[name][()] for name in f if isinstance(f[name], h5py.Dataset)}


def test_only_the_chosen_fields_are_written_with_the_values_of_a_full_file(tmp_path, write_config):
    cfg = write_config(SWEEP)
    run_aesweep("run", cfg, "-o", tmp_path / "lean.h5", "--quiet")
    run_aesweep("run", cfg, "-o", tmp_path / "full.h5", "--quiet", "--set", "output.fields=all")
    lean, full = datasets(tmp_path / "lean.h5"), datasets(tmp_path / "full.h5")
    assert sorted(lean) == sorted(["done", "lr", "seed", "feature", "latent"] + LEAN.split(","))
    assert "W_final" in full and lean["done"].all()
    for name, values in lean.items():
        assert np.array_equal(values, full[name]), name
    # --set takes a list too, and the resolved config in the file names what was kept
    run_aesweep("run", cfg, "-o", tmp_path / "two.h5", "--quiet", "--set", 'output.fields=["splay", "W_final"]')
    assert sorted(datasets(tmp_path / "two.h5")) == ["W_final", "done", "feature", "latent", "lr", "seed", "splay"]
    with h5py.File(tmp_path / "two.h5", "r") as f:
        assert '"output.fields": ["splay", "W_final"]' in f.attrs["config_json"]


def test_unknown_fields_are_config_errors_naming_file_line_key_and_the_fields(tmp_path, write_config):
    cfg = write_config(SWEEP.replace('"splay"]', '"spaly"]'))
    proc = run_aesweep("run", cfg, "-o", tmp_path / "out.h5", check=False)
    assert proc.returncode == 2
    assert f"{cfg}:4: output.fields: unknown field \"spaly\"" in proc.stderr
    assert "outcome, recovered" in proc.stderr and "W_final" in proc.stderr
    proc = run_aesweep("run", write_config(SWEEP), "-o", tmp_path / "out.h5", "--set", "output.fields=loss,nope",
                       check=False)
    assert proc.returncode == 2 and "--set output.fields: unknown field \"nope\"" in proc.stderr
    for bad in ("output.fields=[]", "output.fields=[1, 2]", "output.fields=,"):
        proc = run_aesweep("run", write_config(SWEEP), "-o", tmp_path / "out.h5", "--set", bad, check=False)
        assert proc.returncode == 2 and "output.fields" in proc.stderr, bad
    assert not (tmp_path / "out.h5").exists()


def test_info_says_what_a_lean_file_cannot_show(tmp_path, write_config):
    cfg, out = write_config(SWEEP), tmp_path / "lean.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    info = run_aesweep("info", out).stdout
    assert "fields           outcome, recovery_step, splay" in info and "20 / 20" in info
    assert "census after 200 training steps" in info
    assert "plateaus: not shown, the file keeps no plateau_kind and recovered" in info
    run_aesweep("run", cfg, "-o", out, "--force", "--quiet", "--set", "output.fields=splay")
    info = run_aesweep("info", out).stdout
    assert "20 / 20" in info and "census: not shown, the file keeps no `outcome`" in info


def test_merge_of_lean_shards_and_refusal_of_shards_with_other_fields(tmp_path, write_config):
    cfg = write_config(SWEEP)
    run_aesweep("run", cfg, "-o", tmp_path / "whole.h5", "--quiet")
    run_aesweep("run", cfg, "-o", tmp_path / "s0.h5", "--quiet", "--shard", "0/2")
    run_aesweep("run", cfg, "-o", tmp_path / "s1.h5", "--quiet", "--shard", "1/2")
    run_aesweep("merge", tmp_path / "merged.h5", tmp_path / "s0.h5", tmp_path / "s1.h5")
    merged, whole = datasets(tmp_path / "merged.h5"), datasets(tmp_path / "whole.h5")
    assert sorted(merged) == sorted(whole)
    for name in whole:
        assert np.array_equal(merged[name], whole[name]), name
    run_aesweep("run", cfg, "-o", tmp_path / "s1.h5", "--quiet", "--shard", "1/2", "--force",
                "--set", "output.fields=outcome,splay")
    proc = run_aesweep("merge", tmp_path / "bad.h5", tmp_path / "s0.h5", tmp_path / "s1.h5", check=False)
    assert proc.returncode == 2 and not (tmp_path / "bad.h5").exists()
    assert ("holds the fields [outcome, splay] but the first shard [outcome, recovery_step, splay]: shards must "
            "keep the same output.fields") in proc.stderr


def test_resume_refuses_other_fields(tmp_path, write_config):
    cfg, out = write_config(SWEEP), tmp_path / "lean.h5"
    run_aesweep("run", cfg, "-o", out, "--quiet")
    proc = run_aesweep("run", cfg, "-o", out, "--resume", "--set", "output.fields=outcome", check=False)
    assert proc.returncode == 2 and "output.fields" in proc.stderr


def test_base_states_need_w_final_and_b_final(tmp_path, write_config):
    lean = tmp_path / "lean.h5"
    run_aesweep("run", write_config(SWEEP), "-o", lean, "--quiet")
    cfg = write_config(f'init = {{ scheme = "file"; file = "{lean}"; select = "0"; }};\ntrain = {{ steps = 10; }};\n',
                       "from_file.cfg")
    proc = run_aesweep("run", cfg, "-o", tmp_path / "out.h5", check=False)
    assert proc.returncode == 2 and f"{lean}: has no W_final: base states need W_final and b_final" in proc.stderr
    run_aesweep("run", write_config(SWEEP), "-o", lean, "--quiet", "--force", "--set", "output.fields=W_final,b_final")
    run_aesweep("run", cfg, "-o", tmp_path / "out.h5", "--quiet")  # both kept: enough
    proc = run_aesweep("run", cfg, "-o", tmp_path / "sel.h5", "--set", "init.select=first:perfect", check=False)
    assert proc.returncode == 2 and "has no outcome" in proc.stderr


def test_a_lean_sweep_killed_at_every_write_resumes_to_identical_data(tmp_path, write_config):
    """The kill-and-resume test of test_recovery for a lean file: overlapped writes and a
    field mask change nothing of crash safety."""
    cfg, ref_dir, count = write_config(SWEEP), tmp_path / "ref", tmp_path / "count"
    ref_dir.mkdir()
    assert FAULT_INJECT.exists()
    run_aesweep("run", cfg, "-o", ref_dir / "out.h5", "--quiet", "--threads", "1", env=with_fault(count=count))
    writes = int(count.read_text())
    ref = all_data(ref_dir / "out.h5")
    assert ref["done"].all() and "W_final" not in ref
    kill_at_every_write_and_resume(cfg, tmp_path, writes, ref)
