"""The installed package, as a new user gets it: `pip install -e .` into a fresh virtual
environment (its dependencies from the system's site-packages, which `make deps` fills: no
network), then the `aesweep` command and `import aesweep` from that environment only, run
from outside the repository (issue 24)."""
import os
import subprocess
import sys

import h5py

from e2e_support import REPO


def test_fresh_venv_gets_the_command_and_the_package(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python, command = venv / "bin" / "python", venv / "bin" / "aesweep"
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e",
                           str(REPO)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert command.is_file()
    # the console command is the engine built in the repository
    proc = subprocess.run(["aesweep", "--version"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("aesweep "), proc.stderr
    out = tmp_path / "qs.h5"
    proc = subprocess.run(["aesweep", "run", str(REPO / "sweeps" / "quickstart.cfg"), "-o", str(out), "--quiet",
                           "--grid", "lr=values:0.01,0.1", "--grid", "bias_delta=values:0,0.1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(out) as f:
        assert f["done"][()].sum() == 4
    # the package from the venv: aesweep.run, a zoom, the census
    script = f"""
import aesweep, os
assert os.path.samefile(os.path.dirname(aesweep.__file__), {str(REPO / 'analysis' / 'aesweep')!r})
ds = aesweep.zoom({str(out)!r}, {{"lr": [0.01]}}, progress=False)
print(int(ds["done"].sum()), aesweep.outcome_census(ds)["done"].values.tolist())
"""
    proc = subprocess.run([str(python), "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2", "[2]"], proc.stdout
    # the module scripts under the package's own name
    proc = subprocess.run([str(python), "-m", "aesweep.census", str(out), "-o", str(tmp_path / "c.png")],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "horizon:" in proc.stdout, proc.stderr
    assert os.path.getsize(tmp_path / "c.png") > 0
