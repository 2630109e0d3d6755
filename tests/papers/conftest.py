"""Paper checks share a 2-core machine: multi-threaded BLAS on small (1000 x 1000) matrices
is slower than one thread when cores are busy (measured: eigvals 0.4 s on 1 thread vs
3-5 s on 2 contended threads), so each test runs with BLAS limited to one thread."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _single_threaded_blas():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it the tests are only slower
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
