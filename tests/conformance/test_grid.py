"""The conformance grid (tests/conformance/grid.py): each declared cell measured, and
docs/ecosystem.md equal to the rendering of the declarations.

An ``exact`` cell: agreement 1.0 on Brian2 and torch, else the first difference is named.
An ``approximate`` cell: the measured agreement equals the declared figure (to
grid.AGREEMENT_DECIMALS decimals), so the table states what is measured, and is below 1
(an approximate cell that became exact must be re-declared). A ``refused`` cell: the
failure happens at the declared stage with the declared reason. Every run cell spikes
(non-vacuous) on both sides.
"""

from __future__ import annotations

import re
from pathlib import Path

import grid
import pytest
from prerequisites import REPO_ROOT, installed_library

LIBRARY = {"snnTorch": "snntorch", "Norse": "norse.torch", "Sinabs": "sinabs",
           "Rockpool": "rockpool"}
MIN_SPIKES = 20


@pytest.mark.parametrize("cell", grid.GRID, ids=lambda c: c.id)
def test_cell(cell: grid.Cell, tmp_path: Path) -> None:
    installed_library("torch")
    grid._libraries_without_samna()
    installed_library(LIBRARY[cell.producer])
    m = grid.measure(cell, tmp_path)
    if cell.verdict == "refused":
        assert m.stage == cell.stage, f"declared refused at {cell.stage}, measured: {m.summary()}"
        assert cell.refusal and re.search(cell.refusal, m.error), (
            f"refused for another reason than declared ({cell.refusal!r}): {m.error}")
        return
    assert m.stage is None, f"declared {cell.verdict}, but it {m.summary()}"
    assert m.producer_spikes >= MIN_SPIKES, f"the producer hardly spiked: {m.summary()}"
    for backend, a in m.agreement.items():
        assert m.spikecore_spikes[backend] >= MIN_SPIKES, f"{backend} hardly spiked: {m.summary()}"
        if cell.verdict == "exact":
            assert a == 1.0, (f"{backend}: agreement {a:.4f}, first difference "
                              f"{m.first_difference[backend]}")
        else:
            assert a < 1.0, f"{backend}: declared approximate but exact: re-declare it"
            assert round(a, grid.AGREEMENT_DECIMALS) == pytest.approx(cell.agreement), (
                f"{backend}: agreement {a:.4f}, declared {cell.agreement}: {m.summary()}")


def test_declarations_are_well_formed() -> None:
    ids = [c.id for c in grid.GRID]
    assert len(ids) == len(set(ids))
    for c in grid.GRID:
        assert c.verdict in grid.VERDICTS
        assert (c.agreement is not None) == (c.verdict == "approximate"), c.id
        assert (c.refusal is not None) == (c.verdict == "refused"), c.id
        assert c.verdict not in ("approximate", "refused") or c.why, f"{c.id}: say why"


def test_ecosystem_doc_is_the_rendering() -> None:
    doc = REPO_ROOT / "docs" / "ecosystem.md"
    text = doc.read_text()
    assert text == grid.render(text), (
        "docs/ecosystem.md's grid table is stale: run "
        "`.venv/bin/python tests/conformance/grid.py --write docs/ecosystem.md`")
