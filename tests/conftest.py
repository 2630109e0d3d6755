"""Fixtures shared by every test module (backend tests included): keep them generic."""

from __future__ import annotations

from pathlib import Path

import pytest
from prerequisites import REPO_ROOT, shared_fixtures_dir


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The checkout holding ``spikecore/``, ``backends/`` and ``tests/``."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The shared fixture folder (NIR paper files...), ``../shared/fixtures`` next to the
    checkout unless ``SPIKECORE_SHARED_FIXTURES`` points elsewhere. When it is absent (it
    is not part of the repository): fails in CI, skips with the reason and the fix
    elsewhere (:func:`prerequisites.shared_fixtures_dir`, the one place that finds it)."""
    return shared_fixtures_dir()


@pytest.fixture(scope="session")
def lava() -> str:
    """The Python that runs Lava (the sidecar's interpreter). Skips (with the reason and
    the fix) when no Python 3.10 exists to host the sidecar; fails when Python 3.10 exists
    but the sidecar does not run (a set-up bug, not a missing optional part). ``make
    test`` builds the sidecar."""
    import sys

    from spikecore.backends.lava import sidecar as sidecar

    base, _ = sidecar.find_base_python()
    rt = sidecar.locate()
    if base is None and not rt.available:
        pytest.skip("no Python 3.10 interpreter here, so Lava cannot run: "
                    f"{rt.reason} (fix: {rt.fix})")
    assert rt.available, f"Python 3.10 exists but Lava does not run: {rt.reason}; fix: {rt.fix}"
    return rt.python or sys.executable


@pytest.fixture
def one_torch_thread():
    """Tiny tensors, many small ops: one intra-op torch thread is several times faster on
    a shared 2-core machine (threads only wait for each other), and the order of float
    sums does not depend on the thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
