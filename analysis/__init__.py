"""Plots and statistics from aesweep output files.

Each module is a command-line script, run from the repository root:

    python3 -m analysis.chaos_map OUT.h5 -o map.png      heatmap over two grid axes
    python3 -m analysis.census OUT.h5 -o census.png      outcome fractions, Wilson intervals
    python3 -m analysis.latent OUT.h5 -o latent.png      one run's latent plane and W^T W
    python3 -m analysis.trajectories OUT.h5 -o tr.png    stored training trajectories
    python3 -m analysis.report OUT.h5 -o DIR             all of them, with DIR/index.html
    python3 -m analysis.chaos_stats OUT.h5 -o cs.png     FTLE map, box-counting dimension
    python3 -m analysis.resample_compare OUT.h5 -o r.png recovery per resampling method

Shared helpers live in analysis.common.
"""
