"""Execute every notebook in this folder top to bottom (make test): a cell that raises fails
it, and so does a cell calling aesweep.run that shows no progress bar.

    python3 analysis/examples/run_notebooks.py
"""
import glob
import os
import sys

import nbformat
from nbclient import NotebookClient

HERE = os.path.dirname(os.path.abspath(__file__))


def shows_progress(output):
    """aesweep.run's tqdm bar: a widget (ipywidgets) or its text on stderr."""
    widget = "application/vnd.jupyter.widget-view+json" in output.get("data", {})
    return widget or (output.get("name") == "stderr" and "aesweep run" in output.get("text", ""))


def main():
    paths = sorted(glob.glob(os.path.join(HERE, "*.ipynb")))
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": HERE}}).execute()
        runs = [c for c in nb.cells if c.cell_type == "code" and "aesweep.run(" in c.source]
        silent = [c.source.splitlines()[0] for c in runs if not any(shows_progress(o) for o in c.outputs)]
        if silent:
            print(f"FAILED {os.path.relpath(path)}: no progress bar in the cells {silent}", file=sys.stderr)
            return 1
        print(f"ok   {os.path.relpath(path)} ({len(nb.cells)} cells, a progress bar in each of {len(runs)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
