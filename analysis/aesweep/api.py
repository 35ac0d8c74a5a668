"""Launch a sweep from Python and open its output: aesweep.run and aesweep.open (DESIGN §6).

    ds = aesweep.run({"model": {"n": 7}, "grid": [{"param": "train.lr", "logspace": [-3, -1, 8]}]})
    ds = aesweep.open("out/quickstart.h5")     # also while a sweep writes it
    zoomed = aesweep.zoom("map.h5", {"lr": "logspace:-2.5:-2:128"})   # a window, finer

run() drives the repository's engine, build/aesweep (next to this package), or the binary
passed as engine=. A config is a path, libconfig text, or a dict of the same structure.
"""
import builtins
import math
import os
import re
import shutil
import subprocess
import tempfile
import warnings

import numpy as np

from . import common

# the checkout: analysis/aesweep/api.py -> analysis/aesweep -> analysis -> the repository
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # through symlinks too
ENGINE = os.path.join(ROOT, "build", "aesweep")


class EngineWarning(UserWarning):
    """A warning of the engine's (e.g. an axis that no run uses)."""


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


GRID_KINDS = ("linspace", "logspace", "range", "values")


def spec_number(value):
    """A number of a --grid SPEC (NumPy scalars as the Python numbers they hold)."""
    value = value.item() if isinstance(value, np.generic) else value
    return repr(value) if isinstance(value, float) else str(value)


def grid_arguments(grid):
    """--grid arguments from {"train.lr": "logspace:-3:-2:64"}, {"lr": ("logspace", -3, -2, 64)},
    {"bias_delta": [0.0, 0.05]} (values), ["lr=logspace:-3:-2:64", ...] or one such string."""
    if grid is None:
        return []
    if isinstance(grid, str):
        grid = [grid]
    if isinstance(grid, dict):
        items = []
        for param, spec in grid.items():
            if isinstance(spec, np.ndarray):
                spec = spec.tolist()
            if isinstance(spec, tuple) and spec and spec[0] in GRID_KINDS:
                spec = f"{spec[0]}:" + ":".join(spec_number(v) for v in spec[1:])
            elif isinstance(spec, (list, tuple)):
                spec = "values:" + ",".join(spec_number(v) if not isinstance(v, str) else v for v in spec)
            elif not isinstance(spec, str):
                raise TypeError(f"grid[{param!r}]: expects a SPEC string, a (kind, a, b, n) tuple or a list of values")
            items.append(f"{param}={spec}")
        grid = items
    args = []
    for item in grid:
        args += ["--grid", str(item)]
    return args


def config_source(config):
    """(path, text) for the engine: a config file's path and None, or "-" and the libconfig
    text it reads from standard input (the file then names its config "(standard input)")."""
    if not isinstance(config, (dict, str, os.PathLike)):
        raise TypeError(f"config must be a path, libconfig text or a dict, not {type(config).__name__} {config!r}")
    if isinstance(config, dict):
        return "-", config_text(config)
    if os.path.isfile(config):
        return os.fspath(config), None
    if isinstance(config, str) and ("=" in config or "\n" in config):
        return "-", config
    raise FileNotFoundError(f"no such config file: {config}")


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


PROGRESS_LINE = re.compile(r"^aesweep: (\d+)/(\d+) runs")
START_LINE = re.compile(r"^aesweep: (\d+) runs (on|over) ")  # the engine's first line: the bar starts


def engine_run(cmd, progress, what, stdin_text=None):
    """Runs the engine (stdin_text: what it reads for CONFIG "-"), its progress lines fed to a
    tqdm bar (progress True), its warnings raised as Python warnings; EngineError with its
    message when it fails."""
    if progress:
        cmd = cmd + ["--progress-every", "0"]  # a line after every batch (batches last ~2 s)
    else:
        cmd = cmd + ["--quiet"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, encoding="utf-8")
    if stdin_text is not None:
        proc.stdin.write(stdin_text)
        proc.stdin.close()
    bar, lines = None, []
    try:
        for line in proc.stderr:
            match = PROGRESS_LINE.match(line) or START_LINE.match(line)
            if match and progress:
                if bar is None:
                    from tqdm.auto import tqdm
                    total = int(match.group(2) if match.re is PROGRESS_LINE else match.group(1))
                    bar = tqdm(total=total, unit="run", desc=f"aesweep {what}")
                if match.re is PROGRESS_LINE:
                    bar.update(int(match.group(1)) - bar.n)
                    continue
            lines.append(line)
            if "warning:" in line:
                warnings.warn(line.strip().removeprefix("aesweep: warning: "), EngineWarning, stacklevel=3)
        returncode = proc.wait()
    finally:
        if proc.poll() is None:  # interrupted (KeyboardInterrupt): stop the engine, which keeps what it wrote
            proc.terminate()
            proc.wait()
        if bar is not None:
            if proc.returncode == 0:
                bar.update(bar.total - bar.n)
            bar.close()
    if returncode != 0:
        message = "".join(lines).strip() or f"exit status {returncode}"
        raise EngineError(f"aesweep {what} failed: {message}", returncode, "".join(lines))


def run(config, out=None, *, overrides=None, grid=None, backend="auto", resume=False, force=False, progress=True,
        engine=None):
    """Run a sweep and return its output as an xarray.Dataset (see open()).

    config: a path, libconfig text, or a dict of the same structure. out: the output file;
    None trains into a temporary file and returns the data in memory. overrides: --set
    pairs, a dict or a list of "KEY=VALUE". grid: --grid axes, {"train.lr": "logspace:-3:-2:64"}
    (see grid_arguments). resume/force: as on the command line. progress: a tqdm bar fed by
    the engine (False: none). A failed run raises EngineError with the engine's message; the
    engine's warnings (an axis no run uses) come as EngineWarning.
    """
    path, text = config_source(config)
    return sweep("run", path, text, out, overrides, grid, backend, resume, force, progress, engine)


def zoom(map_path, grid, out=None, *, overrides=None, backend="auto", resume=False, force=False, progress=True,
         engine=None):
    """Train the sweep of the file map_path again over other axes (`aesweep zoom`): its stored
    config and overrides, then these; e.g. a window of an lr map at higher resolution,
    zoom("map.h5", {"lr": "logspace:-2.5:-2:128"}). Returns the zoom's xarray.Dataset."""
    return sweep("zoom", os.fspath(map_path), None, out, overrides, grid, backend, resume, force, progress, engine)


def sweep(command, source, text, out, overrides, grid, backend, resume, force, progress, engine):
    """`aesweep COMMAND SOURCE -o OUT ...` (run or zoom; text: what CONFIG "-" reads), its
    output opened, or loaded into memory from a temporary file when out is None."""
    work = tempfile.mkdtemp(prefix="aesweep-")
    try:
        target = os.fspath(out) if out is not None else os.path.join(work, f"{command}.h5")
        cmd = [find_engine(engine), command, source, "-o", target, "--backend", backend]
        cmd += ["--resume"] * bool(resume) + ["--force"] * bool(force) + set_arguments(overrides)
        engine_run(cmd + grid_arguments(grid), progress, command, text)
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

