"""Fixtures for the end-to-end tests (helpers live in e2e_support.py)."""
import os
import sys

import pytest

# `import aesweep`: this checkout's analysis/aesweep/, whether or not `pip install -e .` ran
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "analysis"))


@pytest.fixture
def write_config(tmp_path):
    """write_config(text, name='sweep.cfg') -> path of a config file in the test's folder."""
    def write(text, name="sweep.cfg"):
        path = tmp_path / name
        path.write_text(text)
        return path
    return write
