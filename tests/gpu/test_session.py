"""The GPU session script (tests/gpu/session.sh) without a GPU: its dry run must run
every step it can on the CPU, skip the others with a reason, report failures, and leave a
results folder that the device tool can bring back (at most 8 plain files)."""
import importlib.util
import json
import os
import re
import stat
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SESSION = os.path.join(ROOT, "tests", "gpu", "session.sh")


def run_session(tmp_path, *args):
    out = tmp_path / "out"
    proc = subprocess.run(["bash", SESSION, "--dry-run", "--out", str(out), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else None
    return proc, out, results


def statuses(results):
    return {s["step"]: s["status"] for s in results["steps"]}


def test_dry_run_runs_what_the_cpu_can_and_skips_the_rest(tmp_path):
    proc, out, results = run_session(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = sorted(os.listdir(out))
    assert files == ["logs.tar.gz", "results.json", "session.log", "summary.md"]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", f) for f in files)
    want = {"info": "ok", "bench": "ok", "bench_large": "ok", "map": "ok", "test_gpu": "skipped",
            "ncu": "skipped", "sanitize": "skipped", "sweeps": "skipped"}
    for module in ("torch", "jax"):
        want[module] = "ok" if importlib.util.find_spec(module) else "skipped"
    assert statuses(results) == want
    rows = [r for b in results["bench"].values() for r in b["results"]]
    # the session benches both precisions (aesweep bench --precision float32,float64)
    for precision in ("float32", "float64"):
        assert sorted(r["n"] for r in rows if r.get("precision") == precision) == [7, 16, 64, 256]
    assert all(r["model_steps_per_s"] > 0 for r in rows)
    assert results["map"]["runs"] == 32 * 32 and sum(results["map"]["outcome_counts"].values()) == 32 * 32
    summary = (out / "summary.md").read_text()
    # every number's command is in the summary, and every skip says why
    assert "aesweep bench --backend cpu --n 7,16" in summary and "aesweep run sweeps/quickstart.cfg" in summary
    assert all(s["note"] for s in results["steps"] if s["status"] == "skipped")


def test_a_failing_step_fails_the_session_and_the_budget_skips_steps(tmp_path):
    # a bundle whose aesweep starts but whose bench and run fail
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    fake = bundle / "aesweep"
    fake.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo fake && exit 0\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    proc, out, results = run_session(tmp_path, "--bundle", str(bundle), "--only", "bench,map")
    assert proc.returncode == 1
    assert statuses(results) == {"bench": "FAILED", "bench_large": "FAILED", "map": "FAILED"}
    assert "FAILED" in (out / "summary.md").read_text()
    proc, out, results = run_session(tmp_path, "--budget", "25", "--only", "info,bench")
    assert proc.returncode == 0
    assert set(statuses(results).values()) == {"skipped"}
    assert all("out of budget" in s["note"] for s in results["steps"])


def test_a_session_that_loses_its_work_folder_fails(tmp_path):
    """A step that removes the session's scratch folder (as a shared /tmp cleaner could) must
    make the session exit non-zero, not report success without its numbers (issue 23)."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    fake = bundle / "aesweep"
    fake.write_text('#!/bin/bash\n[ "$1" = --version ] && echo fake && exit 0\n'
                    'for last; do :; done\ncase $last in */work.*/*.json) rm -rf "$(dirname "$last")" ;; esac\nexit 0\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    proc, out, results = run_session(tmp_path, "--bundle", str(bundle), "--only", "info,bench")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "step table" in proc.stderr and "is gone" in proc.stderr


def test_sessions_in_a_row_and_at_once_each_keep_their_own_folders():
    """20 dry runs in a row and 4 at once, with the default results folder: every one exits
    0 with its own complete folder (sessions started in the same second used to share one)."""
    def start():
        return subprocess.Popen(["bash", SESSION, "--dry-run", "--only", "info"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def folder(stdout):
        return re.search(r"^results: (\S+) ", stdout, re.M)[1]

    made = []
    try:
        for _ in range(20):
            proc = start()
            stdout, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 0, stdout + stderr
            made.append(folder(stdout))
        procs = [start() for _ in range(4)]
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 0, stdout + stderr
            made.append(folder(stdout))
        assert len(set(made)) == 24
        for path in made:
            assert sorted(os.listdir(path)) == ["logs.tar.gz", "results.json", "session.log", "summary.md"]
    finally:
        for path in made:
            subprocess.run(["rm", "-rf", path])
