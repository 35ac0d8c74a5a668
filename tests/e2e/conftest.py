"""Fixtures for the end-to-end tests (helpers live in e2e_support.py)."""
import pytest


@pytest.fixture
def write_config(tmp_path):
    """write_config(text, name='sweep.cfg') -> path of a config file in the test's folder."""
    def write(text, name="sweep.cfg"):
        path = tmp_path / name
        path.write_text(text)
        return path
    return write
