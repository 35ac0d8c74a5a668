"""Execute every notebook in this folder top to bottom (make test): a cell that raises fails it.

    python3 analysis/examples/run_notebooks.py
"""
import glob
import os
import sys

import nbformat
from nbclient import NotebookClient

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    paths = sorted(glob.glob(os.path.join(HERE, "*.ipynb")))
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": HERE}}).execute()
        print(f"ok   {os.path.relpath(path)} ({len(nb.cells)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
