"""Launch a sweep from Python and open its output: aesweep.run and aesweep.open (DESIGN §6).

    ds = aesweep.run({"model": {"n": 7}, "grid": [{"param": "train.lr", "logspace": [-3, -1, 8]}]})
    ds = aesweep.open("out/quickstart.h5")     # also while a sweep writes it

run() drives the repository's engine, build/aesweep (next to this package), or the binary
passed as engine=. A config is a path, libconfig text, or a dict of the same structure.
"""
import builtins
import math
import os
import shutil
import subprocess
import tempfile

import numpy as np

from . import common

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # through symlinks too
ENGINE = os.path.join(ROOT, "build", "aesweep")


class EngineError(RuntimeError):
    """The engine failed: .returncode (2: usage or config error, 1: runtime) and .stderr."""

    def __init__(self, message, returncode=None, stderr=""):
        super().__init__(message)
        self.returncode, self.stderr = returncode, stderr


# ----------------------------------------------------------------------------- configs


LIBCONFIG_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}


def libconfig_string(text):
    """A double-quoted libconfig string: its escapes for backslash, quote and the control
    characters it names, \\xNN for the others; every other character (é, 中) as it is, in
    UTF-8, which libconfig passes through (JSON's \\u00e9 it would not decode)."""
    return '"' + "".join(LIBCONFIG_ESCAPES.get(c, f"\\x{ord(c):02x}" if ord(c) < 0x20 else c) for c in text) + '"'


def libconfig_value(value):
    """A Python value as libconfig text: dict -> group, list of dicts -> list, list -> array
    (NumPy scalars and arrays as the Python numbers and lists they hold)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dict):
        return "{ " + " ".join(f"{k} = {libconfig_value(v)};" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        items = ", ".join(libconfig_value(v) for v in value)
        return f"( {items} )" if any(isinstance(v, dict) for v in value) else f"[{items}]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"config values must be finite, got {value}")
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return libconfig_string(value)
    raise TypeError(f"cannot write {type(value).__name__} {value!r} into a config")


def config_text(config):
    """libconfig text of a dict config: one `section = value;` line per top-level key."""
    return "".join(f"{key} = {libconfig_value(value)};\n" for key, value in config.items())


def set_arguments(overrides):
    """--set arguments from {"train.steps": 500, "trajectory.runs": [0, 5]}, ["key=value", ...]
    or one "key=value" string."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        overrides = [overrides]
    if isinstance(overrides, dict):
        overrides = [f"{k}={v if isinstance(v, str) else libconfig_value(v)}" for k, v in overrides.items()]
    args = []
    for item in overrides:
        args += ["--set", str(item)]
    return args


def config_file(config, folder):
    """A path the engine can read for config (written into folder unless it is a path)."""
    if not isinstance(config, (dict, str, os.PathLike)):
        raise TypeError(f"config must be a path, libconfig text or a dict, not {type(config).__name__} {config!r}")
    if isinstance(config, dict):
        text = config_text(config)
    elif isinstance(config, (str, os.PathLike)) and os.path.isfile(config):
        return os.fspath(config)
    elif isinstance(config, str) and ("=" in config or "\n" in config):
        text = config
    else:
        raise FileNotFoundError(f"no such config file: {config}")
    path = os.path.join(folder, "config.cfg")
    with builtins.open(path, "w", encoding="utf-8") as f:  # open() is aesweep.open here
        f.write(text)
    return path


def find_engine(engine=None):
    """The engine binary: `engine` when given, else build/aesweep beside this package."""
    path = os.fspath(engine) if engine is not None else ENGINE
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        hint = f"run `make` in {ROOT} first" if engine is None else "pass the path of build/aesweep"
        raise EngineError(f"aesweep engine not found: {path} ({hint})")
    return path


def engine_main():
    """The `aesweep` command that `pip install -e .` puts on the PATH: the repository's engine
    binary (build/aesweep beside this package) with the same arguments."""
    import sys
    try:
        path = find_engine()
    except EngineError as e:
        print(f"aesweep: {e}", file=sys.stderr)
        return 2
    os.execv(path, [path] + sys.argv[1:])


# ----------------------------------------------------------------------------- run and open


def run(config, out=None, *, overrides=None, backend="auto", resume=False, force=False, engine=None):
    """Run a sweep and return its output as an xarray.Dataset (see open()).

    config: a path, libconfig text, or a dict of the same structure. out: the output file;
    None trains into a temporary file and returns the data in memory. overrides: --set
    pairs, a dict or a list of "KEY=VALUE". resume/force: as on the command line. A failed
    run raises EngineError with the engine's message.
    """
    work = tempfile.mkdtemp(prefix="aesweep-")
    try:
        path = config_file(config, work)
        target = os.fspath(out) if out is not None else os.path.join(work, "sweep.h5")
        cmd = [find_engine(engine), "run", path, "-o", target, "--backend", backend, "--quiet"]
        cmd += ["--resume"] * bool(resume) + ["--force"] * bool(force) + set_arguments(overrides)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            message = proc.stderr.strip() or f"exit status {proc.returncode}"
            raise EngineError(f"aesweep run failed: {message}", proc.returncode, proc.stderr)
        ds = open(target)
        return ds.load() if out is None else ds
    finally:
        shutil.rmtree(work, ignore_errors=True)


def open(path, group=None):  # noqa: A001  (aesweep.open, like xarray.open_dataset)
    """An aesweep output as an xarray.Dataset, also while a sweep still writes it (runs not
    done yet have done == 0). Adds `outcome_name`, the outcome decoded from the file's own
    flag_values/flag_meanings ("not done" for unfinished runs)."""
    ds = common.open_dataset(os.fspath(path), group)
    if group is None and "outcome" in ds and "flag_meanings" in ds["outcome"].attrs and "done" in ds:
        ds["outcome_name"] = common.outcome_names(ds)
        ds["outcome_name"].attrs["long_name"] = "training outcome (decoded)"
    return ds

