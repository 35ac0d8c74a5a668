"""Fixtures for end-to-end tests: the real build/aesweep binary on real files."""
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AESWEEP = REPO / "build" / "aesweep"


def run_aesweep(*args, check=True, env=None):
    """Runs build/aesweep with args; returns the CompletedProcess (text)."""
    if not AESWEEP.exists():
        pytest.fail(f"{AESWEEP} is missing: run `make` first")
    proc = subprocess.run([str(AESWEEP), *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=300)
    if check and proc.returncode != 0:
        pytest.fail(f"aesweep {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}")
    return proc


@pytest.fixture
def write_config(tmp_path):
    """write_config(text, name='sweep.cfg') -> path of a config file in the test's folder."""
    def write(text, name="sweep.cfg"):
        path = tmp_path / name
        path.write_text(text)
        return path
    return write
