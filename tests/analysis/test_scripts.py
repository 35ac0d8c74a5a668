"""Each analysis script on files produced by the engine (see conftest.py)."""
import re

import h5py
import matplotlib.image as mpimg
import numpy as np
import pytest

from aesweep import census, chaos_map, common, latent, report, trajectories
from conftest import run_module


def check_image(path, size):
    """The PNG has size[0] x size[1] inches at common.DPI and is not blank."""
    img = mpimg.imread(str(path))
    height, width = img.shape[:2]
    assert (width, height) == (round(size[0] * common.DPI), round(size[1] * common.DPI))
    rgb = img[..., :3].reshape(-1, 3)
    assert rgb.std() > 0.05
    assert len(np.unique(rgb, axis=0)) > 20


def raw(path, name):
    """A variable as stored (no xarray decoding), and the done flags."""
    with h5py.File(path, "r") as f:
        return f[name][...], f["done"][...].astype(bool)


# ----------------------------------------------------------------------------- chaos_map


def test_chaos_map_defaults(chaos, tmp_path):
    out = tmp_path / "map.png"
    assert chaos_map.main([chaos, "-o", str(out)]) == 0
    check_image(out, chaos_map.SIZE_ONE)


def test_chaos_map_fraction_with_outcome_panel(tiny, tmp_path):
    out = tmp_path / "map.png"
    assert chaos_map.main([tiny, "-o", str(out), "--reduce", "fraction:perfect", "--panel", "outcome"]) == 0
    check_image(out, chaos_map.SIZE_TWO)


def test_chaos_map_pdf_recovered_panel(chaos, tmp_path):
    out = tmp_path / "map.pdf"
    assert chaos_map.main([chaos, "-o", str(out), "--var", "loss", "--panel", "recovered",
                           "--x", "bias_delta", "--y", "lr", "--logy"]) == 0
    assert out.read_bytes()[:5] == b"%PDF-"


def test_figures_a_paper_can_use(chaos, tmp_path):
    """The map's title says what the sweep trained with, a categorical --var gets named
    colours and a legend (no colour bar), and lr is logarithmic only when it spans a
    decade (a narrow zoom stays linear) (issue 24)."""
    import matplotlib.pyplot as plt

    ds = common.open_dataset(chaos)
    title = common.sweep_title(ds)
    for word in (f"n = {common.config_value(ds, 'model.n')}", str(common.config_value(ds, "train.optimizer")),
                 f"{common.config_value(ds, 'train.steps')} steps", "init", "float32"):
        assert word in title, (word, title)
    assert "lr =" not in title  # lr is an axis here
    fig = chaos_map.render(ds, var="outcome")
    assert fig._suptitle.get_text() == title
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None and len(fig.axes) == 1  # no colour bar axes
    names = [t.get_text() for t in legend.get_texts()]
    assert names[:len(common.outcome_classes(ds))] == [n for _, n in common.outcome_classes(ds)]
    assert ax.get_xscale() == "log"
    plt.close(fig)
    narrow = ds.isel(lr=[0, 1])
    assert float(narrow["lr"].max() / narrow["lr"].min()) < 10
    fig = chaos_map.render(narrow, var="splay")
    assert fig.axes[0].get_xscale() == "linear" and len(fig.axes) == 2  # the map and its colour bar
    plt.close(fig)
    fig = chaos_map.render(narrow, var="splay", logx=True)
    assert fig.axes[0].get_xscale() == "log"
    plt.close(fig)


def test_default_axes():
    assert common.pick_axes(["seed", "bias_delta", "lr"]) == ("lr", "bias_delta")
    assert common.pick_axes(["seed", "lr"]) == ("seed", "lr")
    assert common.pick_axes(["seed", "lr", "n"], y="seed") == ("lr", "seed")
    with pytest.raises(common.AnalysisError, match="two grid axes"):
        common.pick_axes(["seed"])


def test_reduce_matches_raw_file(tiny, partial):
    for path in (tiny, partial):
        splay, done = raw(path, "splay")
        outcome, _ = raw(path, "outcome")
        ds = common.open_dataset(path)
        assert common.grid_dims(ds) == ["lr", "seed"]
        mean, _ = common.reduce(ds, "splay", ("lr",), "mean")
        with np.errstate(invalid="ignore"):
            want = np.where(done, splay, 0).sum(axis=1) / done.sum(axis=1)
            frac = np.sum(done & (outcome == 0), axis=1) / np.sum(done, axis=1)
        np.testing.assert_allclose(mean.values, want, rtol=1e-6)
        perfect, _ = common.reduce(ds, "splay", ("lr",), "fraction:perfect")
        np.testing.assert_allclose(perfect.values, frac)
    assert np.isnan(mean.values[0])  # partial: no run of the first lr is done


# ----------------------------------------------------------------------------- census


def parse_table(text):
    """The census table: the printed text up to its first blank line (the trust table follows)."""
    lines = text.strip().split("\n\n")[0].splitlines()
    rows = [re.findall(r"(\S+) \[(\S+), (\S+)\]|^\s*(\S+)\s+(\d+)", line) for line in lines[1:]]
    return lines[0].split(), lines[1:], rows


def test_census_by_lr(tiny, tmp_path, capsys):
    out = tmp_path / "census.png"
    assert census.main([tiny, "-o", str(out)]) == 0
    check_image(out, census.SIZE)
    header, lines, _ = parse_table(capsys.readouterr().out)
    with h5py.File(tiny, "r") as f:
        names = str(f["outcome"].attrs["flag_meanings"]).split()
        codes = f["outcome"].attrs["flag_values"].tolist()
    assert header == ["lr", "done"] + names + "symmetric plateaus recovered pinned plateaus recovered".split()
    assert names == ["perfect", "symmetric_failure", "pinned_failure", "dead_failure",
                     "interference_failure", "still_learning", "diverged"]
    outcome, done = raw(tiny, "outcome")
    assert len(lines) == outcome.shape[0]
    for line, oc, dn in zip(lines, outcome, done):
        fields = line.split()
        assert int(fields[1]) == dn.sum()
        fracs = [float(x) / 100 for x in re.findall(r"([\d.]+)% \[", line)]
        assert fracs == pytest.approx([np.sum(dn & (oc == c)) / dn.sum() for c in codes], abs=5e-5)
    kind, _ = raw(tiny, "plateau_kind")
    back, _ = raw(tiny, "recovered")
    for line, k, b, dn in zip(lines, kind, back, done):  # runs recovered / runs with that longest plateau
        want = [f"{np.sum(dn & (k == c) & (b == 1))}/{np.sum(dn & (k == c))}" for c in (1, 2)]
        assert line.split()[-2:] == want


def test_census_overall_and_partial(partial, tmp_path, capsys):
    assert census.main([partial, "--by", "none", "-o", str(tmp_path / "c.png")]) == 0
    _, lines, _ = parse_table(capsys.readouterr().out)
    _, done = raw(partial, "outcome")
    assert len(lines) == 1 and lines[0].split()[:2] == ["all", str(done.sum())]
    assert census.main([partial, "--by", "seed", "-o", str(tmp_path / "c.pdf")]) == 0
    _, lines, _ = parse_table(capsys.readouterr().out)
    assert [int(line.split()[1]) for line in lines] == done.sum(axis=0).tolist()


# ----------------------------------------------------------------------------- latent


def test_latent_first_done_run(chaos, tmp_path):
    out = tmp_path / "latent.png"
    assert latent.main([chaos, "-o", str(out)]) == 0
    check_image(out, latent.SIZE)


def test_latent_selection_nearest(tiny, tmp_path):
    ds = common.open_dataset(tiny)
    lrs = ds["lr"].values
    index, run = latent.pick_run(ds, ["lr=0.011", "seed=3"])
    assert float(run["lr"]) == lrs[np.argmin(np.abs(lrs - 0.011))] and int(run["seed"]) == 3
    assert index == int(np.argmin(np.abs(lrs - 0.011))) * ds.sizes["seed"] + 3
    out = tmp_path / "latent.png"
    assert latent.main([tiny, "--sel", "lr=0.011", "--sel", "seed=3", "-o", str(out)]) == 0
    check_image(out, latent.SIZE)


# ----------------------------------------------------------------------------- trajectories


def test_trajectories(chaos, tmp_path):
    out = tmp_path / "traj.png"
    assert trajectories.main([chaos, "-o", str(out)]) == 0
    runs = common.open_dataset(chaos, group="trajectory")["run"].values
    assert runs.tolist() == [0, 9]
    check_image(out, (trajectories.ROW_SIZE[0], trajectories.ROW_SIZE[1] * len(runs)))
    assert trajectories.main([chaos, "--run", "9", "-o", str(out)]) == 0
    check_image(out, trajectories.ROW_SIZE)


def test_dead_feature_is_the_unlearnt_one(chaos):
    ds = common.open_dataset(chaos)
    tr = trajectories.open_trajectories(chaos)
    for run in tr["run"].values:
        sub = tr.sel(run=run)
        W, b = sub["W"].values, sub["b"].values
        dead, coords, one = trajectories.dead_features(ds, int(run), W, b)
        recon, _ = raw(chaos, "recon")
        flat = recon.reshape(-1, recon.shape[-1])[int(run)]
        assert dead == set(np.flatnonzero(flat < 0.5).tolist())


# ----------------------------------------------------------------------------- report


@pytest.mark.parametrize("which", ["tiny", "chaos"])
def test_report(which, request, tmp_path):
    path = request.getfixturevalue(which)
    folder = tmp_path / "report"
    assert report.main([path, "-o", str(folder)]) == 0
    page = (folder / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    expected = {"census.png", "chaos_map.png", "latent.png"} | ({"trajectories.png"} if which == "chaos" else set())
    assert expected <= set(images)
    assert ("trajectories.png" in images) == (which == "chaos")
    for name in images:
        assert (folder / name).is_file()
    check_image(folder / "census.png", census.SIZE)
    check_image(folder / "chaos_map.png", chaos_map.SIZE_TWO)
    ds = common.open_dataset(path)
    for key in ("aesweep_version", "git_commit", "backend", "config"):
        assert f"<th>{key}</th>" in page
    assert "<th>symmetric_failure</th>" in page
    for _, name in common.outcome_classes(ds):
        assert f"<th>{name}</th>" in page
    assert str(ds.attrs["git_commit"]) in page
    # the summary first, figures next, tables last and folded
    assert page.index('class="summary"') < page.index("<figure>") < page.index("<details>")
    assert "<details open" not in page


# ----------------------------------------------------------------------------- errors

MODULES = {"chaos_map": chaos_map, "census": census, "latent": latent, "trajectories": trajectories,
           "report": report}


def assert_clear_error(returncode, stderr, *words):
    assert returncode == 2, stderr
    message = stderr.strip()
    assert "Traceback" not in message and len(message.splitlines()) == 1, message
    for word in words:
        assert word in message


def in_process(capsys, name, *args):
    """(exit status, stderr) of aesweep.<name>.main(args)."""
    status = MODULES[name].main([str(a) for a in args])
    return status, capsys.readouterr().err


# The three kinds the issue names, through `python3 -m` in a subprocess.

def test_missing_file_subprocess(tmp_path):
    proc = run_module("chaos_map", tmp_path / "nope.h5", "-o", tmp_path / "out.png")
    assert_clear_error(proc.returncode, proc.stderr, "no such file", "nope.h5")


def test_missing_variable_subprocess(tiny, tmp_path):
    proc = run_module("chaos_map", tiny, "--var", "bogus", "-o", tmp_path / "x.png")
    assert_clear_error(proc.returncode, proc.stderr, "missing variable", "bogus")


def test_empty_selection_subprocess(tiny, tmp_path):
    proc = run_module("latent", tiny, "--sel", "seed=99", "-o", tmp_path / "x.png")
    assert_clear_error(proc.returncode, proc.stderr, "empty selection", "seed=99")


# The same and more, in-process (faster).

@pytest.mark.parametrize("name", sorted(MODULES))
def test_missing_file(name, tmp_path, capsys):
    out = tmp_path / ("out" if name == "report" else "out.png")
    assert_clear_error(*in_process(capsys, name, tmp_path / "nope.h5", "-o", out), "no such file", "nope.h5")


def test_missing_group(tiny, tmp_path, capsys):
    assert_clear_error(*in_process(capsys, "trajectories", tiny, "-o", tmp_path / "x.png"), "trajectory")


@pytest.mark.parametrize("name, args", [
    ("census", ["--sel", "seed=99"]),
    ("chaos_map", ["--sel", "seed=99"]),
    ("trajectories", ["--run", "12345"]),
    ("latent", ["--outcome", "diverged"]),
])
def test_empty_selection(name, args, tiny, chaos, tmp_path, capsys):
    path = chaos if name == "trajectories" else tiny
    assert_clear_error(*in_process(capsys, name, path, *args, "-o", tmp_path / "x.png"), "empty selection")


def test_empty_selection_no_done_runs(partial, tmp_path, capsys):
    lr0 = common.open_dataset(partial)["lr"].values[0]
    assert_clear_error(*in_process(capsys, "latent", partial, "--sel", f"lr={lr0}", "-o", tmp_path / "x.png"),
                       "empty selection")


@pytest.mark.parametrize("name, args, words", [
    ("census", ["-o", "{tmp}/x.jpg"], [".png or .pdf"]),
    ("census", ["--by", "bogus"], ["unknown grid axis", "bogus"]),
    ("census", ["-o", "{tmp}/no/such/dir/x.png"], ["does not exist"]),
    ("chaos_map", ["--reduce", "fraction:bogus"], ["unknown outcome", "bogus"]),
    ("chaos_map", ["--reduce", "max"], ["bad --reduce"]),
    ("chaos_map", ["--x", "seed", "--y", "seed"], ["same axis"]),
    ("chaos_map", ["--x", "bias_delta"], ["unknown grid axis"]),
    ("latent", ["--sel", "lr"], ["AXIS=VALUE"]),
    ("latent", ["--sel", "seed=x"], ["not an integer"]),
])
def test_bad_arguments(name, args, words, tiny, tmp_path, capsys):
    args = [a.format(tmp=tmp_path) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "x.png")]
    assert_clear_error(*in_process(capsys, name, tiny, *args), *words)
