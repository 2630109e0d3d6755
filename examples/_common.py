"""Shared helpers of the example scripts: output folder, headless matplotlib, BLAS threads."""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from pathlib import Path

#: Every example writes into a folder given with ``--out`` (default ``examples/out``).
DEFAULT_OUT = Path(__file__).resolve().parent / "out"


def add_out(parser: argparse.ArgumentParser) -> None:
    """The one ``--out DIR`` option of every example."""
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder for what the example writes (default: examples/out)")


def out_folder(parser: argparse.ArgumentParser, out: Path) -> Path:
    """``out`` created as a folder, checked before any work (a file path is refused: every
    example takes a folder)."""
    if out.exists() and not out.is_dir():
        parser.error(f"--out {str(out)!r} is a file; --out takes a folder (every example "
                     "writes its files into one)")
    out.mkdir(parents=True, exist_ok=True)
    return out


def parse_out(description: str) -> Path:
    """``--out DIR`` (default ``examples/out``), created if needed."""
    parser = argparse.ArgumentParser(description=description)
    add_out(parser)
    return out_folder(parser, parser.parse_args().out)


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: the scripts only write PNG files
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def one_blas_thread():
    """Dense linear algebra on ~1000 x 1000 matrices is faster single-threaded on busy cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
