"""Shared helpers of the example scripts: output folder, headless matplotlib, BLAS threads."""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from pathlib import Path


def parse_out(description: str) -> Path:
    """``--out DIR`` (default ``examples/out``), created if needed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out",
                        help="folder for the PNG files (default: examples/out)")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    return out


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
