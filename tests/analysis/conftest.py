"""Fixtures for the analysis tests: small output files produced by the engine itself.

The engine is build/aesweep (run `make` first), or the binary named by $AESWEEP.
A missing or failing engine fails the tests that need its files; it never skips them.
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
ENGINE = os.environ.get("AESWEEP", os.path.join(ROOT, "build", "aesweep"))
# the package of this checkout, analysis/aesweep/, whether or not `pip install -e .` ran
# (make deps runs it; the Makefile sets PYTHONPATH alike)
PACKAGE_PATH = os.path.join(ROOT, "analysis")
sys.path.insert(0, PACKAGE_PATH)
MODULE_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [PACKAGE_PATH, os.environ.get("PYTHONPATH")]))}


def produce(tmp_path_factory, config, name):
    if not (os.path.isfile(ENGINE) and os.access(ENGINE, os.X_OK)):
        pytest.fail(f"engine not found: {ENGINE} (run `make` in {ROOT} first)", pytrace=False)
    out = tmp_path_factory.mktemp("engine") / name
    cmd = [ENGINE, "run", os.path.join(HERE, config), "-o", str(out), "--quiet"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not out.is_file():
        pytest.fail(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stderr}", pytrace=False)
    return str(out)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """lr x seed population (6 x 5 runs), no trajectories."""
    return produce(tmp_path_factory, "tiny.cfg", "tiny.h5")


@pytest.fixture(scope="session")
def chaos(tmp_path_factory):
    """lr x bias_delta chaos map from the ideal failure state, trajectories of runs 0 and 9."""
    return produce(tmp_path_factory, "tiny_chaos.cfg", "chaos.h5")


@pytest.fixture(scope="session")
def partial(tiny, tmp_path_factory):
    """tiny.h5 with some runs marked not done, as a sweep still in progress leaves it."""
    import shutil

    import h5py
    import numpy as np

    path = tmp_path_factory.mktemp("partial") / "partial.h5"
    shutil.copy(tiny, path)
    with h5py.File(path, "r+") as f:
        done = f["done"][...]
        done[0, :] = 0  # the whole first learning rate
        done[1, ::2] = 0  # part of the second
        f["done"][...] = done
    assert np.count_nonzero(done) > 0
    return str(path)


def run_module(name, *args):
    """`python3 -m aesweep.<name> args...` from the repository root."""
    return subprocess.run([sys.executable, "-m", f"aesweep.{name}", *map(str, args)],
                          cwd=ROOT, env=MODULE_ENV, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def twin(tmp_path_factory):
    """lr x bias_delta chaos map from the ideal failure state (16 x 16), with twin runs (FTLE)."""
    return produce(tmp_path_factory, "twin.cfg", "twin.h5")


@pytest.fixture(scope="session")
def resample(tmp_path_factory):
    """base x intervention x intervene_delta x lr (2 x 3 x 2 x 3): interventions from two
    symmetric_failure base states written by a first engine run."""
    base = produce(tmp_path_factory, "resample_base.cfg", "resample_base.h5")
    with open(os.path.join(HERE, "resample.cfg")) as f:
        text = f.read().replace("BASE_FILE", base)
    config = tmp_path_factory.mktemp("config") / "resample.cfg"
    config.write_text(text)
    return produce(tmp_path_factory, str(config), "resample.h5")
