"""The support matrix comes from the backends' registries; its docs page is never stale."""

from __future__ import annotations

from pathlib import Path

from spikecore.backends import get_backend

from spikecore.primitives import SPECS
from spikecore.support import markdown_page, support_matrix

REPO = Path(__file__).resolve().parents[1]


def test_matrix_rows_are_the_registered_primitives() -> None:
    m = support_matrix()
    for backend in ("brian2", "torch", "lava"):
        assert set(m[backend]) == {t.__name__ for t in SPECS}


def test_matrix_reflects_each_backend_registry() -> None:
    m = support_matrix()
    for backend in ("brian2", "torch", "lava"):
        supported = get_backend(backend).supported()
        for t, note in m[backend].items():
            assert (note is not None) == (t in supported), (backend, t)


def test_docs_page_is_generated_and_current() -> None:
    page = (REPO / "docs" / "support.md").read_text()
    assert page == markdown_page(), (
        "docs/support.md is stale: run `python -m spikecore.support --write docs/support.md`")
