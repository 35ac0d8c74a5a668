#!/usr/bin/env python3
"""session_summary.py - the GPU session's results as markdown for tests/bench/RESULTS.md.

    python3 tests/gpu/session_summary.py WORK OUT MODE COMMAND BUNDLE

WORK holds session.sh's steps.tsv, logs/ and the JSON/CSV its steps wrote; OUT gets
summary.md (date, device, commit, and the command behind every number) and results.json
(everything parsed).  Standard library only: the GPU machine may lack analysis/'s needs.
"""
import csv
import glob
import json
import os
import re
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def first_command(log):
    """The `command: ...` line a step printed first: the command behind its numbers."""
    try:
        with open(log) as f:
            for line in f:
                if line.startswith("command: "):
                    return line[len("command: "):].strip()
    except OSError:
        pass
    return None


def g(x, digits=4):
    """A rate or time to `digits` significant digits; "-" for none (or 0: not measured)."""
    return "-" if not x else "%.*g" % (digits, float(x))


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def read_ncu(path):
    """ncu --csv: one row per (launch, metric); pivoted to one dict per launch."""
    launches = {}
    try:
        with open(path) as f:
            lines = [line for line in f if not line.startswith("==")]
    except OSError:
        return []
    for row in csv.DictReader(lines):
        if "ID" not in row or row.get("Metric Name") is None:
            continue
        launch = launches.setdefault(row["ID"], {"kernel": row.get("Kernel Name", "?")})
        launch[row["Metric Name"]] = row.get("Metric Value")
    return list(launches.values())


def main():
    work, out, mode, command, bundle = sys.argv[1:6]
    steps = []
    with open(os.path.join(work, "steps.tsv")) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            log = os.path.join(work, "logs", row["step"] + ".log")
            row["numbers_from"] = first_command(log)
            steps.append(row)
    info = open(os.path.join(work, "logs", "info.log")).read() if os.path.exists(
        os.path.join(work, "logs", "info.log")) else ""
    field = lambda name: (re.search(r"^%s: (.*)$" % name, info, re.M) or [None, "?"])[1]  # noqa: E731
    gpu = re.search(r"^name, memory.total.*\n(.*)$", info, re.M)
    device = gpu.group(1).strip() if gpu else "no GPU (%s)" % mode
    results = {"mode": mode, "command": command, "bundle": bundle, "date": field("date"), "commit": field("commit"),
               "device": device, "host": field("host"), "steps": steps,
               "bench": {os.path.basename(p)[6:-5]: load(p) for p in sorted(glob.glob(os.path.join(work, "bench-*.json")))},
               "torch": load(os.path.join(work, "torch.json")), "jax": load(os.path.join(work, "jax.json")),
               "map": load(os.path.join(work, "map.json")), "ncu": read_ncu(os.path.join(work, "ncu.csv"))}

    md = ["## %s — GPU session (%s): %s, commit %s" % (results["date"], mode, device, results["commit"]), ""]
    md += ["Command: `%s`, from the bundle `%s` (make gpu-bundle). Host: %s. %s" % (
        command, bundle, results["host"],
        "; ".join(line for line in info.splitlines() if re.match(r"^(torch|jax|h5py|numpy)[ :]", line))), ""]
    md += table(["step", "status", "seconds", "command", "note"],
                [[s["step"], s["status"], s["seconds"], "`%s`" % (s["numbers_from"] or s["command"]), s["note"]]
                 for s in steps])
    n7 = None
    bench_rows = []
    for tag, b in results["bench"].items():
        if not b:
            continue
        cmd = next((s["numbers_from"] for s in steps if s["step"] == ("bench" if tag == "small" else "bench_" + tag)), "")
        for r in b.get("results", []):
            rate = r.get("kernel_model_steps_per_s") or r.get("model_steps_per_s")
            if r.get("n") == 7 and tag == "small" and n7 is None:
                n7 = rate
            bench_rows.append([r.get("n"), r.get("m"), r.get("precision", "float32"),
                               r.get("kernel_name", r.get("kernel")), r.get("runs"), r.get("steps"),
                               g(r.get("model_steps_per_s")), g(r.get("kernel_model_steps_per_s")),
                               "%.2f %%" % (100 * r.get("peak_fraction", 0)), "`%s`" % cmd])
    bench_rows.sort(key=lambda row: (row[0], row[3] if isinstance(row[3], str) else str(row[3])))
    if bench_rows:
        md += ["", "### aesweep bench (%s)" % next(iter(results["bench"].values()) or {}).get("device", "?"), ""]
        md += table(["n", "m", "precision", "kernel that ran", "runs", "steps", "model-steps/s", "kernel only",
                     "% peak", "command"], bench_rows)
    base_rows = []
    for name in ("torch", "jax"):
        r = results[name]
        if not r:
            continue
        cmd = next((s["numbers_from"] for s in steps if s["step"] == name), "")
        for mode_name, m in r.get("results", {}).items():
            rate = m.get("model_steps_per_s")
            base_rows.append([name, mode_name, "%s × %s" % (r.get("runs"), r.get("steps")),
                              g(rate) if rate else m.get("error", "-"),
                              "%.1f×" % (n7 / rate) if n7 and rate else "-", "`%s`" % cmd])
    if base_rows:
        md += ["", "### Baselines, n = 7, m = 2, AdamW (aesweep n = 7 kernel-only rate over each)", ""]
        md += table(["framework", "mode", "runs × steps", "model-steps/s", "aesweep / this", "command"], base_rows)
    if results["map"]:
        m = results["map"]
        cmd = next((s["numbers_from"] for s in steps if s["step"] == "map"), "")
        md += ["", "### The map, timed with its HDF5 write", ""]
        md += table(["runs", "seconds (run + write)", "file bytes", "outcomes", "command"],
                    [[m["runs"], g(m["seconds_with_write"]), m["file_bytes"], m["outcome_counts"], "`%s`" % cmd]])
    if results["ncu"]:
        keys = sorted({k for launch in results["ncu"] for k in launch if k != "kernel"})
        md += ["", "### ncu (issue efficiency)", ""]
        md += table(["kernel"] + keys, [[launch["kernel"][:40]] + [launch.get(k, "-") for k in keys]
                                        for launch in results["ncu"]])
    md += [""]
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
