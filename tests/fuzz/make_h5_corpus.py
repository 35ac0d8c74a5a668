"""Writes tests/fuzz/h5/: small HDF5 files, well-formed and hostile, for the readers of
foreign files (`info`, the base-state loader, `merge`).  `make sanitize` replays them
under ASan/UBSan; `make fuzz-h5` mutates them.  Run again after changing this script:

    python3 tests/fuzz/make_h5_corpus.py

Their stamp is aesweep 0.1.0, commit "fuzz-corpus": the fuzz builds are compiled with that
commit so that `merge` gets past its stamp check and reaches the records."""
from pathlib import Path

import h5py
import numpy as np

OUT = Path(__file__).resolve().parent / "h5"
GRID = (2, 3)
N, M = 4, 2
PER_RUN = {"outcome": "i1", "recovered": "u1", "converged": "u1", "n_learnt": "i2", "radius_levels": "i2",
           "plateau_kind": "i1", "plateau_start": "i8", "plateau_length": "i8", "plateau_unlearnt": "i2",
           "recovery_step": "i8", "first_perfect_step": "i8", "diverged_step": "i8", "loss": "f4",
           "loss_change": "f4", "tilt": "f4", "splay": "f4", "asymmetry": "f4", "min_gap": "f4",
           "twin_outcome": "i1", "twin_recovered": "u1", "twin_distance": "f4", "lyapunov": "f4"}  # the run record's fields (AE_RECORD_FIELDS)
PER_FEATURE = {"recon": "f4", "norm": "f4", "b_final": "f4"}


def aesweep_file(path, grid=GRID, done=1, commit="fuzz-corpus", skip=(), replace=None, config='{"a": 1}',
                 attrs=None, outcome_attrs=None, compression=None):
    """An aesweep-like output; `replace` maps a variable name to (shape, dtype) to break it;
    `attrs` / `outcome_attrs` add root / outcome attributes (arrays where a reader expects
    one value, say); `compression` stores every variable chunked and compressed."""
    replace = replace or {}
    rng = np.random.default_rng(len(str(path)))
    with h5py.File(path, "w", libver="earliest") as f:
        f.attrs["aesweep_version"] = "0.1.0"
        f.attrs["git_commit"] = commit
        f.attrs["config_json"] = config
        shapes = {"done": (grid, "u1"), "W_final": (grid + (N, M), "f4")}
        shapes.update({name: (grid, kind) for name, kind in PER_RUN.items()})
        shapes.update({name: (grid + (N,), kind) for name, kind in PER_FEATURE.items()})
        shapes.update(replace)
        for name, (shape, kind) in shapes.items():
            if name in skip:
                continue
            if kind == "S":
                data = np.full(shape, b"text", dtype="S8")
            elif name == "done":
                data = np.full(shape, done, dtype=kind)
            elif name == "outcome":
                data = rng.integers(-1, 4, size=shape).astype(kind)
            else:
                data = rng.standard_normal(shape).astype(kind) if kind[0] == "f" else np.zeros(shape, kind)
            chunked = compression and data.ndim and data.size
            f.create_dataset(name, data=data, **({"compression": compression} if chunked else {}))
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
        for key, value in (outcome_attrs or {}).items():
            if "outcome" in f:
                f["outcome"].attrs[key] = value
        if "lr" not in skip and "outcome" in f and f["outcome"].ndim >= 1:
            f["lr"] = np.linspace(0.1, 1.0, f["outcome"].shape[0] + (2 if "scale" in str(path) else 0))
            f["lr"].make_scale("lr")
            f["outcome"].dims[0].attach_scale(f["lr"])


def main():
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("*"):
        old.unlink()
    aesweep_file(OUT / "valid.h5")
    aesweep_file(OUT / "valid_shard_undone.h5", done=0)
    aesweep_file(OUT / "other_commit.h5", commit="0123abc")
    aesweep_file(OUT / "other_config.h5", config='{"a": 2}')
    aesweep_file(OUT / "outcome_longer_than_W_final.h5", replace={"outcome": ((10, 3), "i1")})
    aesweep_file(OUT / "b_final_shorter_than_W_final.h5", replace={"b_final": ((1, 3, N), "f4")})
    aesweep_file(OUT / "b_final_fewer_features.h5", replace={"b_final": (GRID + (2,), "f4")})
    aesweep_file(OUT / "W_final_20_dims.h5", replace={"W_final": ((1,) * 18 + (N, M), "f4")})
    aesweep_file(OUT / "W_final_1_dim.h5", replace={"W_final": ((N,), "f4")})
    aesweep_file(OUT / "W_final_300_features.h5", replace={"W_final": (GRID + (300, M), "f4")})
    aesweep_file(OUT / "W_final_text.h5", replace={"W_final": (GRID + (N, M), "S")})
    aesweep_file(OUT / "done_mismatched.h5", replace={"done": ((3, 2), "u1")})
    aesweep_file(OUT / "done_20_dims.h5", replace={"done": ((1,) * 20, "u1"), "outcome": ((1,) * 20, "i1")})
    aesweep_file(OUT / "zero_length.h5", grid=(0, 3))
    aesweep_file(OUT / "scalar_grid.h5", grid=())
    aesweep_file(OUT / "loss_mismatched.h5", replace={"loss": ((2,), "f4")})
    aesweep_file(OUT / "recovered_longer_than_done.h5", replace={"recovered": ((50, 3), "i1"),
                                                                  "plateau_kind": ((7,), "i1")})
    aesweep_file(OUT / "scale_longer_than_dim.h5")
    # attributes and types a stranger's file may hold (issue 23): arrays of strings where one
    # string is read, numbers for text, flag attributes that disagree, other dtypes
    strings = np.array([b"a" * 40, b"b" * 40, b"c" * 40], dtype="S40")
    aesweep_file(OUT / "attrs_string_arrays.h5", attrs={"device": strings, "start_time": strings,
                                                        "end_time": strings, "backend": strings,
                                                        "model_steps_per_second": np.arange(5.0)})
    aesweep_file(OUT / "attrs_config_array.h5", attrs={"config_json": strings, "git_commit": strings})
    aesweep_file(OUT / "attrs_numbers_for_text.h5", attrs={"aesweep_version": 1.0, "git_commit": np.arange(3),
                                                          "end_time": 7})
    aesweep_file(OUT / "flags_disagree.h5", outcome_attrs={"flag_values": np.array([200, -5, 3], "i4"),
                                                           "flag_meanings": "perfect x" + " y" * 300})
    aesweep_file(OUT / "flags_arrays.h5", outcome_attrs={"flag_values": np.array(["a", "b"], "S1"),
                                                         "flag_meanings": strings})
    aesweep_file(OUT / "dtypes_foreign.h5", replace={"loss": (GRID, "i1"), "W_final": (GRID + (N, M), "f2"),
                                                     "outcome": (GRID, "f8"), "done": (GRID, "i8"),
                                                     "b_final": (GRID + (N,), "u8")})
    aesweep_file(OUT / "compressed.h5", compression="gzip")
    # the stored config and overrides that `zoom` reads (issue 24)
    vlen = h5py.string_dtype()
    text = "model = { n = 3; };\n\n# command-line overrides, in order:\n--set train.steps=5\n"
    aesweep_file(OUT / "stored_overrides.h5", attrs={"config": text, "overrides": np.array(
        ["--set train.steps=5", "--grid lr=values:0.1,0.2"], dtype=vlen)})
    aesweep_file(OUT / "overrides_foreign.h5", attrs={"config": "x", "overrides": np.array(
        ["train.steps=5", "", "--grid " + "x" * 5000], dtype=vlen)})
    aesweep_file(OUT / "overrides_numbers.h5", attrs={"config": 5, "overrides": np.arange(4)})
    aesweep_file(OUT / "overrides_fixed_strings.h5", attrs={"config": strings, "overrides": strings})
    aesweep_file(OUT / "config_legacy_block.h5", attrs={"config": "a = 1;\n# --set overrides:\n\n\nb=2\nc"})
    aesweep_file(OUT / "missing_done.h5", skip=("done",))
    aesweep_file(OUT / "missing_b_final.h5", skip=("b_final",))
    with h5py.File(OUT / "extent_without_storage.h5", "w", libver="earliest") as f:
        f.attrs["aesweep_version"], f.attrs["git_commit"], f.attrs["config_json"] = "0.1.0", "fuzz-corpus", "{}"
        f.create_dataset("W_final", shape=(1 << 40, N, M), dtype="f4")
        f.create_dataset("b_final", shape=(1 << 40, N), dtype="f4")
        f.create_dataset("outcome", shape=(1 << 40,), dtype="i1")
        f.create_dataset("done", shape=(1 << 40,), dtype="u1")
    (OUT / "not_hdf5.bin").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 2)
    print(f"wrote {len(list(OUT.iterdir()))} files to {OUT}")


if __name__ == "__main__":
    main()
