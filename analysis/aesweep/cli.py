"""The one command-line skeleton of the analysis scripts.

A script is a module with a docstring (its first paragraph is the --help description),
an `arguments(parser)` function and a `run(args)` body; `main = cli.script(...)` gives it
the usual `main(argv=None) -> exit status`, with an AnalysisError printed as one line on
stderr and exit status 2.
"""
import argparse
import sys

from .common import AnalysisError


def report_error(prog, error):
    print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
    return 2


def script(prog, doc, arguments, body, figure=None):
    """main(argv=None) for a script: `figure` is the default output name of scripts that
    draw one (they get FILE and -o/--output), None for others (they add their own)."""
    def parser():
        p = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
        if figure is not None:
            p.add_argument("file", help="aesweep output (HDF5)")
            p.add_argument("-o", "--output", default=figure,
                           help=f"figure to write, .png or .pdf (default: {figure})")
        arguments(p)
        return p

    def main(argv=None):
        args = parser().parse_args(argv)
        try:
            body(args)
        except AnalysisError as e:
            return report_error(prog, e)
        return 0

    main.parser = parser
    return main


def add_sel(parser):
    parser.add_argument("--sel", action="append", default=[], metavar="AXIS=VALUE",
                        help="keep runs at this grid coordinate (nearest value for floats); repeatable")


def add_map_axes(parser, x_default="lr, or the first grid axis", y_default="bias_delta, or the second grid axis"):
    parser.add_argument("--x", help=f"grid axis on x (default: {x_default})")
    parser.add_argument("--y", help=f"grid axis on y (default: {y_default})")
    parser.add_argument("--logx", action="store_true", help="log x axis (always for lr)")
    parser.add_argument("--logy", action="store_true", help="log y axis (always for lr)")


def run_module(main):
    """`if __name__ == "__main__": cli.run_module(main)`."""
    sys.exit(main())
