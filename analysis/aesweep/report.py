"""What happened in a sweep: one HTML page with the findings first, figures, tables last.

    python3 -m aesweep.report OUT.h5 -o DIR

DIR/index.html opens with a paragraph of what the sweep found (aesweep.summary), then
the figures: an interactive outcome map (grids of two or more axes: hover a cell for its
settings, outcome and splay, click it for that run's latent plane and W^T W; inline data
and plain JavaScript, so the page works offline from the folder), the splay/outcome map
(chaos_map.png), the census (census.png), the latent plane and W^T W of a perfect, a
failed and a recovered run side by side (latent.png), and with stored trajectories their
curves (trajectories.png) and a recovered run before and after (before_after.png). The
census table and the file's provenance come last, folded.
"""
import html
import json
import os

import numpy as np

from . import chaos_map, cli, common, latent, trajectories
from .census import by_axis, census
from .census import render as census_figure
from .census import TRUST_NOTE, trust, trust_rows
from .census import table_rows as census_rows
from .summary import summarize

PROG = "aesweep.report"
MAP_CELLS_MAX = 65536  # the interactive map carries every cell's run; larger maps are left out
DIGITS = 5  # significant digits of numbers in the page's data


def arguments(p):
    p.add_argument("file", help="aesweep output (HDF5)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write (created if needed)")


# ----------------------------------------------------------------------------- runs to show


def first_run(ds, mask):
    """(flat index, run) of the first done run where mask holds, or None."""
    dims = common.grid_dims(ds)
    hits = np.flatnonzero((common.done_mask(ds) & mask).transpose(*dims).values)
    if hits.size == 0:
        return None
    pos = np.unravel_index(hits[0], [ds.sizes[d] for d in dims])
    return int(hits[0]), ds.isel(dict(zip(dims, pos)))


def telling_runs(ds):
    """[(title, index, run)]: a perfect run that never failed, a failed run and a recovered
    run, where the sweep has them."""
    names = common.outcome_names(ds)
    recovered = (common.masked(ds, "recovered") == 1) if "recovered" in ds else names == ""
    failed = ~names.isin(["perfect", "not done", "diverged", "still_learning"])
    picks = [("perfect", (names == "perfect") & ~recovered), ("failed", failed), ("recovered", recovered)]
    out = []
    for kind, mask in picks:
        hit = first_run(ds, mask)
        if hit is not None:
            out.append((kind, *hit))
    return out


def latent_picks(ds):
    picks = []
    for kind, index, run in telling_runs(ds):
        W, b, recon = latent.run_arrays(run)
        title = latent.describe(ds, run, index).replace("   ", "\n")
        picks.append((f"{kind}: {title}", W, b, recon))
    return picks


def before_after(ds, path):
    """Latent picks of the first stored trajectory of a recovered run: its first step,
    the step its plateau starts (when known) and its last step; [] without one."""
    if not common.has_group(path, "trajectory") or "recovered" not in ds:
        return []
    tr = trajectories.open_trajectories(path)
    flat_recovered = (common.masked(ds, "recovered") == 1).transpose(*common.grid_dims(ds)).values.ravel()
    for run in tr["run"].values.tolist():
        if not flat_recovered[int(run)]:
            continue
        sub = tr.sel(run=run)
        steps = sub["step"].values
        W = sub["W"].transpose("step", "feature", ...).values.astype(float)
        b = sub["b"].transpose("step", "feature").values.astype(float)
        one = ds.sel(common.run_coords(ds, run))
        moments = [0]
        if "plateau_start" in one and float(one["plateau_start"]) >= 0:
            moments.append(int(np.argmin(np.abs(steps - float(one["plateau_start"])))))
        moments.append(len(steps) - 1)
        picks = []
        for k in moments:
            feat = np.isfinite(b[k])
            Wk, bk = W[k][feat][:, :2], b[k][feat]
            recon = np.maximum((Wk ** 2).sum(-1) + bk, 0)
            picks.append((f"run {run} at step {steps[k]}", Wk, bk, recon))
        return picks
    return []


# ----------------------------------------------------------------------------- figures


def figures(path, ds, folder, table):
    """Write every figure that applies; yield (file name, caption)."""
    def save(fig, name):
        common.save_figure(fig, os.path.join(folder, name))
        return name

    dims = common.grid_dims(ds)
    if len(dims) >= 2:
        x, y = common.pick_axes(dims)
        yield (save(chaos_map.render(ds, panel="outcome"), "chaos_map.png"),
               f"Splay (left) and the most frequent outcome (right) over {x} and {y}")
    by = table.attrs["by"]
    yield save(census_figure(ds, table), "census.png"), f"Outcome census{' by ' + by if by else ''}"
    picks = latent_picks(ds)
    if picks:
        kinds = ", ".join(p[0].split(":")[0] for p in picks)
        yield (save(latent.render_side_by_side(ds, picks), "latent.png"),
               f"Latent plane (dashed: unlearnt) and W^T W of a {kinds} run")
    if common.has_group(path, "trajectory"):
        tr = trajectories.open_trajectories(path)
        yield save(trajectories.render(ds, tr), "trajectories.png"), "Training trajectories of the stored runs"
        moments = before_after(ds, path)
        if moments:
            yield (save(latent.render_side_by_side(ds, moments), "before_after.png"),
                   "A recovered run: its latent plane at the start, on its plateau and at the end")


# ----------------------------------------------------------------------------- interactive map


def rounded(values):
    return [None if not np.isfinite(v) else float(f"{v:.{DIGITS}g}") for v in np.asarray(values, float).ravel()]


def map_data(ds):
    """The interactive map's data (a dict for JSON), or None for grids of one axis or too
    many cells. Each cell shows one run: the first value of every axis besides x and y."""
    dims = common.grid_dims(ds)
    if len(dims) < 2:
        return None
    x, y = common.pick_axes(dims)
    if ds.sizes[x] * ds.sizes[y] > MAP_CELLS_MAX:
        return None
    ds = ds.sortby([d for d in (x, y) if common.is_numeric(ds[d].values)])
    fixed = {d: 0 for d in dims if d not in (x, y)}
    plane = ds.isel(fixed).transpose(y, x, ...)
    names = common.outcome_names(ds).isel(fixed).transpose(y, x).values
    classes = [n for _, n in common.outcome_classes(ds)] + ["not done"]
    n = ds.sizes["feature"]
    W = plane["W_final"].transpose(y, x, "feature", "latent").values.astype(float)[..., :2]
    return {
        "x": {"name": x, "label": common.label(ds[x], x), "values": [common.fmt(v) for v in ds[x].values]},
        "y": {"name": y, "label": common.label(ds[y], y), "values": [common.fmt(v) for v in ds[y].values]},
        "fixed": ", ".join(f"{d}={common.fmt(ds[d].values[0])}" for d in fixed),
        "classes": classes,
        "colors": [common.hex_color(c) for c in common.class_colors(classes)],
        "featureColors": [common.hex_color(c) for c in common.feature_colors(n)],
        "outcome": [classes.index(str(v)) for v in names.ravel()],
        "splay": rounded(plane["splay"].values) if "splay" in plane else None,
        "W": rounded(W),
        "b": rounded(plane["b_final"].values),
        "features": n,
    }


MAP_SCRIPT = r"""
(function () {
  const d = JSON.parse(document.getElementById("map-data").textContent);
  const canvas = document.getElementById("map"), tip = document.getElementById("tip");
  const nx = d.x.values.length, ny = d.y.values.length, ctx = canvas.getContext("2d");
  function el(parent, tag, attrs, text) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const key in attrs) e.setAttribute(key, attrs[key]);
    if (text !== undefined) e.textContent = text;
    parent.appendChild(e);
    return e;
  }
  const cw = Math.max(4, Math.floor(640 / nx)), ch = Math.max(4, Math.floor(480 / ny));
  canvas.width = nx * cw; canvas.height = ny * ch;
  for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
    ctx.fillStyle = d.colors[d.outcome[j * nx + i]];
    ctx.fillRect(i * cw, (ny - 1 - j) * ch, cw, ch);  // y grows upwards
  }
  const legend = document.getElementById("map-legend");
  const seen = new Set(d.outcome);
  d.classes.forEach((name, k) => {
    if (!seen.has(k)) return;
    const item = document.createElement("span");
    item.innerHTML = '<i style="background:' + d.colors[k] + '"></i>' + name;
    legend.appendChild(item);
  });
  // the axes: ticks at up to 6 evenly spaced cells (the ends included), labelled by their values
  const NS = "http://www.w3.org/2000/svg", axes = document.getElementById("map-axes");
  const LEFT = 70, BOTTOM = 44;
  axes.setAttribute("width", LEFT + canvas.width + 20); axes.setAttribute("height", canvas.height + BOTTOM);
  function ticks(count) {
    const k = Math.min(count, 6), out = [];
    for (let t = 0; t < k; t++) out.push(k > 1 ? Math.round(t * (count - 1) / (k - 1)) : 0);
    return out;
  }
  ticks(nx).forEach(i => {
    const X = LEFT + (i + 0.5) * cw;
    el(axes, "line", {x1: X, y1: canvas.height, x2: X, y2: canvas.height + 5, stroke: "#333"});
    el(axes, "text", {x: X, y: canvas.height + 18, "font-size": 11, "text-anchor": "middle"}, d.x.values[i]);
  });
  ticks(ny).forEach(j => {
    const Y = (ny - 1 - j + 0.5) * ch;
    el(axes, "line", {x1: LEFT - 5, y1: Y, x2: LEFT, y2: Y, stroke: "#333"});
    el(axes, "text", {x: LEFT - 8, y: Y + 4, "font-size": 11, "text-anchor": "end"}, d.y.values[j]);
  });
  el(axes, "text", {x: LEFT + canvas.width / 2, y: canvas.height + 38, "font-size": 12, "text-anchor": "middle"},
     d.x.label);
  el(axes, "text", {x: 12, y: canvas.height / 2, "font-size": 12, "text-anchor": "middle",
                    transform: "rotate(-90 12 " + canvas.height / 2 + ")"}, d.y.label);
  function cellAt(ev) {
    const r = canvas.getBoundingClientRect();
    const i = Math.floor((ev.clientX - r.left) / r.width * nx), j = ny - 1 - Math.floor((ev.clientY - r.top) / r.height * ny);
    return (i >= 0 && i < nx && j >= 0 && j < ny) ? [i, j] : null;
  }
  function describe(i, j) {
    const k = j * nx + i, splay = d.splay ? d.splay[k] : null;
    return d.x.name + " = " + d.x.values[i] + ", " + d.y.name + " = " + d.y.values[j] +
      (d.fixed ? ", " + d.fixed : "") + "\noutcome: " + d.classes[d.outcome[k]] +
      "\nsplay: " + (splay === null ? "n/a" : splay);
  }
  canvas.addEventListener("mousemove", ev => {
    const c = cellAt(ev);
    if (!c) { tip.style.display = "none"; return; }
    tip.textContent = describe(c[0], c[1]);
    tip.style.display = "block";
    tip.style.left = (ev.pageX + 12) + "px"; tip.style.top = (ev.pageY + 12) + "px";
  });
  canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  canvas.addEventListener("click", ev => { const c = cellAt(ev); if (c) drawRun(c[0], c[1]); });

  function drawRun(i, j) {
    const k = j * nx + i, n = d.features, W = [], b = [];
    for (let f = 0; f < n; f++) {
      const w0 = d.W[(k * n + f) * 2], w1 = d.W[(k * n + f) * 2 + 1], bf = d.b[k * n + f];
      if (w0 === null || w1 === null || bf === null) continue;  // past this run's own n
      W.push([w0, w1, f]); b.push(bf);
    }
    const svg = document.getElementById("latent");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    document.getElementById("latent-title").textContent = describe(i, j).replace(/\n/g, "; ");
    const size = 300, mid = size / 2;
    let r = 1e-3;
    W.forEach(w => { r = Math.max(r, Math.hypot(w[0], w[1])); });
    const s = 0.8 * mid / r;
    el(svg, "line", {x1: 0, y1: mid, x2: size, y2: mid, stroke: "#ddd"});
    el(svg, "line", {x1: mid, y1: 0, x2: mid, y2: size, stroke: "#ddd"});
    W.forEach((w, q) => {
      const recon = Math.max(0, w[0] * w[0] + w[1] * w[1] + b[q]);
      const color = d.featureColors[w[2]], X = mid + s * w[0], Y = mid - s * w[1];
      el(svg, "line", {x1: mid, y1: mid, x2: X, y2: Y, stroke: color, "stroke-width": 2.5,
                       "stroke-dasharray": recon < 0.5 ? "5,4" : "none"});
      el(svg, "circle", {cx: X, cy: Y, r: 3.5, fill: color});
      el(svg, "text", {x: mid + 1.1 * s * w[0] - 4, y: mid - 1.1 * s * w[1] + 4, fill: color, "font-size": 12}, String(w[2]));
    });
    // W^T W with b as a last column, blue-white-red around 0
    const m = W.length, cell = Math.min(24, 280 / (m + 1)), left = size + 30;
    let vmax = 1e-6;
    const G = W.map((a, p) => W.map(c => a[0] * c[0] + a[1] * c[1]).concat([b[p]]));
    G.forEach(row => row.forEach(v => { vmax = Math.max(vmax, Math.abs(v)); }));
    G.forEach((row, p) => row.forEach((v, q) => {
      const t = v / vmax, red = t > 0 ? 255 : Math.round(255 * (1 + t)), blue = t < 0 ? 255 : Math.round(255 * (1 - t));
      const green = Math.round(255 * (1 - Math.abs(t)));
      el(svg, "rect", {x: left + q * cell, y: 20 + p * cell, width: cell - 1, height: cell - 1,
                       fill: "rgb(" + red + "," + green + "," + blue + ")"});
    }));
    el(svg, "text", {x: left, y: 14, "font-size": 12}, "W\u1d40W (+ b, last column)");
    // its colour bar: a gradient path (not a rect: the rects are the matrix), +vmax red to -vmax blue
    const barX = left + (m + 1) * cell + 16, barH = m * cell;
    const defs = el(svg, "defs", {}), grad = el(defs, "linearGradient", {id: "wtw-scale", x1: 0, y1: 0, x2: 0, y2: 1});
    [["0%", "rgb(255,0,0)"], ["50%", "rgb(255,255,255)"], ["100%", "rgb(0,0,255)"]].forEach(st =>
      el(grad, "stop", {offset: st[0], "stop-color": st[1]}));
    el(svg, "path", {d: "M" + barX + " 20 h12 v" + barH + " h-12 Z", fill: "url(#wtw-scale)", stroke: "#999"});
    [[0, vmax], [0.5, 0], [1, -vmax]].forEach(t =>
      el(svg, "text", {x: barX + 16, y: 24 + t[0] * barH, "font-size": 11}, (+t[1].toPrecision(3)).toString()));
  }
  drawRun(0, 0);
})();
"""


def map_html(ds):
    data = map_data(ds)
    if data is None:
        return ""
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    fixed = f" Cells show the runs at {html.escape(data['fixed'])}." if data["fixed"] else ""
    return f"""<h2>Outcome map</h2>
<p>Hover a cell for its settings, outcome and splay; click it for that run's latent plane and
W<sup>T</sup>W (dashed: an unlearnt feature).{fixed}</p>
<div class="map-row"><div><div class="map-frame"><svg id="map-axes"></svg><canvas id="map" title=""></canvas></div>
<div id="map-legend"></div></div>
<div><div id="latent-title"></div><svg id="latent" width="640" height="300"></svg></div></div>
<div id="tip"></div>
<script type="application/json" id="map-data">{payload}</script>
<script>{MAP_SCRIPT}</script>"""


# ----------------------------------------------------------------------------- page


def html_table(header, rows):
    def cells(tag, row):
        return "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)

    body = "\n".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return f"<table>\n<tr>{cells('th', header)}</tr>\n{body}\n</table>"


def provenance_html(ds):
    rows = []
    for key, value in common.provenance(ds).items():
        text = html.escape(value)
        cell = f"<pre>{text}</pre>" if "\n" in value or len(value) > 100 else text
        rows.append(f"<tr><th>{html.escape(key)}</th><td>{cell}</td></tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


STYLE = """body{font-family:sans-serif;margin:2em;max-width:1400px} table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}
img{max-width:100%} pre{margin:0} p.summary{font-size:1.15em;line-height:1.5;max-width:60em}
.map-row{display:flex;gap:2em;flex-wrap:wrap} canvas#map{border:1px solid #999;cursor:crosshair;image-rendering:pixelated;position:absolute;left:70px;top:0}
.map-frame{position:relative} svg#map-axes{display:block}
#tip{position:absolute;display:none;white-space:pre;background:#fffff0;border:1px solid #888;padding:4px 8px;
font-size:0.9em;pointer-events:none} #map-legend span{margin-right:1em} .axis{font-size:0.9em;color:#444}
#map-legend i{display:inline-block;width:0.9em;height:0.9em;margin-right:0.3em;vertical-align:middle}
details{margin:1em 0} summary{cursor:pointer;font-weight:bold}"""


def write_index(path, ds, folder, table, shown):
    dims = common.grid_dims(ds)
    grid = ", ".join(f"{d} ({ds.sizes[d]})" for d in dims) or "single run"
    images = "\n".join(f'<figure><img src="{html.escape(name)}" alt="{html.escape(caption)}">'
                       f"<figcaption>{html.escape(caption)}</figcaption></figure>" for name, caption in shown)
    name = html.escape(os.path.basename(path))
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>aesweep report: {name}</title>
<style>{STYLE}</style></head><body>
<h1>aesweep report: {name}</h1>
<p class="summary">{html.escape(summarize(ds, full=True))}</p>
<p>Grid: {html.escape(grid)}.</p>
{map_html(ds)}
<h2>Figures</h2>
{images}
<h2>Tables</h2>
<details><summary>Outcome census ({html.escape(table.attrs['pooled'])})</summary>
{html_table(*census_rows(table))}
</details>
<details><summary>Trust: frozen runs, saddles and minima, unlearnt features</summary>
<p>{html.escape(TRUST_NOTE)}.</p>
{html_table(*trust_rows(trust(ds)))}
</details>
<details><summary>Provenance</summary>
{provenance_html(ds)}
</details>
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
    ds = common.prepare(ds, need=["outcome"])
    table = census(ds, by_axis(ds, None))
    shown = list(figures(args.file, ds, args.output, table))
    index = write_index(args.file, ds, args.output, table, shown)
    for name, _ in shown:
        print(os.path.join(args.output, name))
    print(index)


main = cli.script(PROG, __doc__, arguments, run)

if __name__ == "__main__":
    cli.run_module(main)
