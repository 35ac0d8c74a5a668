"""All the plots that apply to one output file, in a folder with an index.html.

    python3 -m analysis.report OUT.h5 -o DIR

Writes census.png (and the census table), chaos_map.png (grids of two or more axes),
latent.png (the first finished run, plus latent_<outcome>.png for the first run of each
failure outcome present), trajectories.png (when the file has a `trajectory` group),
and DIR/index.html showing them with the file's provenance attributes.
"""
import argparse
import html
import os
import sys

import numpy as np

from analysis import census, chaos_map, common, latent, trajectories

PROG = "analysis.report"


def parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("file", help="aesweep output (HDF5)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write (created if needed)")
    return p


def figures(path, ds, folder, table):
    """Write every figure that applies; yield (file name, caption)."""
    def save(fig, name):
        common.save_figure(fig, os.path.join(folder, name))
        return name

    dims = common.grid_dims(ds)
    yield save(census.render(ds, table), "census.png"), f"Outcome census by {table['by'] or 'run'}"
    if len(dims) >= 2:
        args = chaos_map.parser().parse_args([path, "--panel", "outcome"])
        x, y = chaos_map.pick_axes(dims)
        yield save(chaos_map.render(ds, args), "chaos_map.png"), f"splay and outcome over {x} and {y}"
    args = latent.parser().parse_args([path])
    yield save(latent.render(ds, args), "latent.png"), "Latent plane of the first finished run"
    outcome = common.masked(ds, "outcome")
    for code, name in common.outcome_classes(ds):
        if code != 0 and bool((outcome == code).any()) and name != "diverged":
            args = latent.parser().parse_args([path, "--outcome", name])
            yield save(latent.render(ds, args), f"latent_{name}.png"), f"Latent plane of the first {name} run"
    if common.has_group(path, "trajectory"):
        tr = trajectories.open_trajectories(path)
        yield save(trajectories.render(ds, tr), "trajectories.png"), "Training trajectories"


def html_table(header, rows):
    def cells(tag, row):
        return "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)

    body = "\n".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return f"<table>\n<tr>{cells('th', header)}</tr>\n{body}\n</table>"


def census_html(t):
    rows = [[label, done] + [census.cell(t, r, j) for j in range(len(t["names"]))]
            for r, (label, done) in enumerate(zip(t["labels"], t["done"]))]
    return html_table([t["by"] or "runs", "done"] + t["names"], rows)


def provenance_html(ds):
    rows = []
    for key, value in common.provenance(ds).items():
        text = html.escape(value)
        cell = f"<pre>{text}</pre>" if "\n" in value or len(value) > 100 else text
        rows.append(f"<tr><th>{html.escape(key)}</th><td>{cell}</td></tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def write_index(path, ds, folder, table, shown):
    dims = common.grid_dims(ds)
    done = int(common.done_mask(ds).sum())
    total = int(np.prod([ds.sizes[d] for d in dims])) if dims else 1
    grid = ", ".join(f"{d} ({ds.sizes[d]})" for d in dims) or "single run"
    images = "\n".join(f'<figure><img src="{html.escape(name)}" alt="{html.escape(caption)}">'
                       f"<figcaption>{html.escape(caption)}</figcaption></figure>" for name, caption in shown)
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>aesweep report: {html.escape(os.path.basename(path))}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}}
img{{max-width:100%}} pre{{margin:0}}</style></head><body>
<h1>aesweep report: {html.escape(os.path.basename(path))}</h1>
<p>{done} of {total} runs finished. Grid: {html.escape(grid)}.</p>
<h2>Outcome census (95 % Wilson intervals)</h2>
{census_html(table)}
<h2>Figures</h2>
{images}
<h2>Provenance</h2>
{provenance_html(ds)}
</body></html>
"""
    index = os.path.join(folder, "index.html")
    with open(index, "w", encoding="utf-8") as f:
        f.write(page)
    return index


def run(args):
    ds = common.open_dataset(args.file)
    try:
        os.makedirs(args.output, exist_ok=True)
    except OSError as e:
        raise common.AnalysisError(f"cannot create folder {args.output}: {e.strerror}") from None
    _, table = census.prepare(ds, census.parser().parse_args([args.file]))
    shown = list(figures(args.file, ds, args.output, table))
    index = write_index(args.file, ds, args.output, table, shown)
    for name, _ in shown:
        print(os.path.join(args.output, name))
    print(index)


def main(argv=None):
    args = parser().parse_args(argv)
    return common.run_cli(PROG, run, args)


if __name__ == "__main__":
    sys.exit(main())
