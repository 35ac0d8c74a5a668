"""Helpers for the end-to-end tests: run the real build/aesweep binary."""
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AESWEEP = REPO / "build" / "aesweep"


def run_aesweep(*args, check=True, env=None, timeout=300):
    """Runs build/aesweep with args; returns the CompletedProcess (text)."""
    if not AESWEEP.exists():
        pytest.fail(f"{AESWEEP} is missing: run `make` first")
    proc = subprocess.run([str(AESWEEP), *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"aesweep {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}")
    return proc
