"""The learning-rule tests run many steps on tiny tensors: one torch thread each."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    yield
