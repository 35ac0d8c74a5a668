"""docs/CONFIG.md, FORMAT.md and OUTCOMES.md agree with the engine: their generated blocks are
what `aesweep help ...` prints now, and what a real sweep writes is all on them."""
import json
import re
import subprocess
import sys

import h5py
import numpy as np

from e2e_support import AESWEEP, REPO, run_aesweep

DOCS = REPO / "docs"
# A small sweep that writes everything the writer can: twins, the float64 check, the optimizer
# state, trajectories, an axis some runs do not use (used_only_where), a sample axis, an override.
EVERYTHING = """
model = { n = 5; m = 2; };
train = { optimizer = "sgd"; lr = 0.05; steps = 200; };
twin = { eps = 1e-6; };
check = { float64 = 2; };
output = { optimizer_state = true; };
trajectory = { every = 100; runs = [0]; };
grid = ( { param = "train.momentum"; values = [0.0, 0.9]; },
         { sample = 2; seed = 1; params = ( { param = "train.lr"; loguniform = [-2.0, -1.0]; } ); } );
"""
# HDF5's dimension scales, not aesweep's: FORMAT.md names them once
DIMENSION_SCALE_ATTRS = {"CLASS", "NAME", "REFERENCE_LIST", "DIMENSION_LIST"}


def page(name):
    return (DOCS / name).read_text()


def named(text):
    """Every `code span` of a page."""
    return set(re.findall(r"`([^`\n]+)`", text))


def default_config(tmp_path, write_config):
    """The resolved config of a sweep that sets nothing: every setting at its default."""
    out = tmp_path / "defaults.h5"
    run_aesweep("run", write_config("", name="empty.cfg"), "-o", out, "--quiet")  # one run, 10000 steps
    with h5py.File(out, "r") as f:
        return json.loads(f.attrs["config_json"])


def test_docs_are_up_to_date():
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "update_docs.py"), "--check", "--aesweep",
                           str(AESWEEP)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_help_topics():
    for topic, heading in [("config", "### `train`"), ("format", "| `outcome` |"), ("outcomes", "| `perfect` |")]:
        proc = run_aesweep("help", topic)
        assert heading in proc.stdout and proc.stderr == ""
    assert run_aesweep("help", "nonsense", check=False).returncode == 2
    assert "aesweep help config" in run_aesweep("--help").stdout


def test_every_setting_is_on_config_md(tmp_path, write_config):
    config = default_config(tmp_path, write_config)
    text, spans = page("CONFIG.md"), named(page("CONFIG.md"))
    keys = set(config) - {"grid", "twin.enabled"}  # the grid, and a derived flag: not settings
    assert not keys - spans, sorted(keys - spans)
    # the table's default column is the engine's default
    rows = re.findall(r"^\| `([a-z0-9_]+\.[a-z0-9_]+)` \| `[a-z0-9_]+` \| `([^`]+)` \|", text, re.M)
    assert len(rows) >= 30
    for key, default in rows:
        want = config[key]
        assert (default.strip('"') == want) if isinstance(want, str) else float(default) == want, (key, default, want)


def test_defaults_in_prose_are_the_engine_s(tmp_path, write_config):
    """Every "`outcome.tol` (default 0.003)" on the three pages."""
    config = default_config(tmp_path, write_config)
    found = 0
    for name in ("CONFIG.md", "FORMAT.md", "OUTCOMES.md"):
        for key, value in re.findall(r"`([a-z0-9_]+\.[a-z0-9_]+)(?: = [^`]+)?`[^`(]{0,40}\(default ([^)]+)\)", page(name)):
            want = config[key]
            value = value.strip('"')
            assert (value == want) if isinstance(want, str) else float(value) == want, (name, key, value, want)
            found += 1
    assert found >= 8


def test_every_outcome_is_on_outcomes_md(tmp_path, write_config):
    out = tmp_path / "o.h5"
    run_aesweep("run", write_config("train = { steps = 0; };"), "-o", out, "--quiet")
    with h5py.File(out, "r") as f:
        names = f["outcome"].attrs["flag_meanings"].split()
    assert len(names) == 7
    spans = named(page("OUTCOMES.md"))
    assert not set(names) - spans, set(names) - spans


def test_everything_a_sweep_writes_is_on_format_md(tmp_path, write_config):
    out = tmp_path / "all.h5"
    run_aesweep("run", write_config(EVERYTHING), "-o", out, "--quiet", "--set", "train.steps=200")
    format_md = page("FORMAT.md")
    documented, axis_names = named(format_md), named(page("CONFIG.md"))
    datasets, attributes = {}, set(h5py.File(out, "r").attrs)
    with h5py.File(out, "r") as f:
        def visit(name, obj):
            attributes.update(obj.attrs)
            if isinstance(obj, h5py.Dataset):
                datasets[name] = (obj.dtype, obj.ndim, dict(obj.attrs))
        f.visititems(visit)
        coordinates = {"momentum", "sample", "lr"}  # named by the sweep's axes: CONFIG.md's axis column
        assert coordinates <= set(datasets) and coordinates <= axis_names
        assert "used_only_where" in f["momentum"].attrs
    for name in datasets:
        base = name.split("/")[-1]
        assert base in documented or (name in coordinates), name
    missing = attributes - documented - DIMENSION_SCALE_ATTRS
    assert not missing, missing
    assert DIMENSION_SCALE_ATTRS & attributes <= documented
    # the generated table's type and dimensions are the file's (a float32 sweep: real is float32)
    rows = re.findall(r"^\| `(\w+)` \| (\(axes[^)]*\)) \| (\w+) \|", format_md, re.M)
    assert len(rows) >= 40
    types = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int64": np.int64, "real": np.float32,
             "float64": np.float64}
    for variable, dims, kind in rows:
        dtype, ndim, attrs = datasets[variable]  # every field: this sweep writes them all
        assert dtype == types[kind], (variable, dtype, kind)
        assert ndim == 2 + dims.count(","), (variable, ndim, dims)  # 2 grid axes
        codes = re.search(rf"^\| `{variable}` \| ((?:\d+ `\w+`(?:, )?)+) \|$", format_md, re.M)
        assert ("flag_meanings" in attrs) == bool(codes), variable
        if codes:
            assert attrs["flag_meanings"].split() == re.findall(r"`(\w+)`", codes.group(1)), variable
            assert list(attrs["flag_values"]) == [int(c) for c in re.findall(r"(\d+) `", codes.group(1))], variable
        assert ("_FillValue" in attrs) != bool(codes), variable
