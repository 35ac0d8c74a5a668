"""aesweep: run sweeps of tiny ReLU autoencoders from Python and analyse their output.

    import aesweep
    ds = aesweep.run("sweeps/quickstart.cfg")          # or libconfig text, or a dict; a tqdm bar
    fine = aesweep.zoom("map.h5", {"lr": "logspace:-2.5:-2:128"})   # a window of a map, finer
    aesweep.outcome_census(ds, "lr")                    # a Dataset over (lr, outcome)
    aesweep.float64_agreement(ds)                       # check.float64: float32 vs float64 outcomes
    aesweep.trust(ds)                                   # per outcome: frozen, saddles, minima, unlearnt
    print(aesweep.summarize(ds))

`pip install -e .` at the repository root installs this folder (analysis/) as the package
`aesweep`. Each module is also a command-line script (`python3 -m aesweep.NAME --help`
from the repository root):

    chaos_map        heatmap over two grid axes
    census           outcome fractions, Wilson intervals
    latent           one run's latent plane and W^T W
    trajectories     stored training trajectories
    chaos_stats      per region: uncertainty exponent, box counting, Lyapunov map
    resample_compare recovery per resampling method
    summary          what the sweep found, in sentences
    report           all of them, with an HTML page

Every analysis function takes and returns xarray objects; outcome names come from the
file's own flag_values/flag_meanings attributes.
"""
from .api import EngineError, EngineWarning, find_engine, open, run, zoom  # noqa: A004  (aesweep.open)
from .common import AnalysisError, outcome_classes, outcome_names


def __getattr__(name):
    # The script modules load on first use, so `python3 -m aesweep.census` runs a module
    # that the package has not imported already.
    if name == "outcome_census":
        from .census import census
        return census
    if name == "float64_agreement":
        from .census import float64_agreement
        return float64_agreement
    if name == "trust":
        from .census import trust
        return trust
    if name == "summarize":
        from .summary import summarize
        return summarize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["run", "open", "find_engine", "EngineError", "AnalysisError", "outcome_census", "float64_agreement",
           "trust", "summarize",
           "outcome_classes", "outcome_names"]
