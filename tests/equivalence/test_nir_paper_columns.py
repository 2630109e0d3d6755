"""The NIR paper's LIF task (Pedersen et al. 2024, Fig. 3), column by column.

Each platform's published trace (``../shared/fixtures/nir_paper_lif/lif_<platform>.csv``:
input, voltage, output spike per step) is reproduced by reading the paper's NIR file
through the dialect of that platform and running it on every spikecore backend: the
output spike steps must be identical, and voltages equal within the stated tolerance
wherever the column's voltage units are the dialect's units. The expected values are the
published files, not anything computed by spikecore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from prerequisites import shared_fixture
from spikecore.backends import get_backend

import spikecore as sc
from spikecore.testing import assert_close_arrays

BACKENDS = ("torch", "brian2", "lava")
LIF_NODE = {"lif_norse.nir": "1", "lif_rockpool.nir": "1_LIFNeuronTorch"}


@dataclass(frozen=True)
class Column:
    """How one published column is reproduced.

    ``v_atol``: voltage tolerance in the column's units, with its reason; ``None`` when
    the units differ (fixed point). ``v_until_first_spike``: compare voltages only before
    the first output spike (the event-driven reference resets inside a step)."""

    csv: str
    nir_file: str
    read: dict = field(default_factory=dict)
    spikes: tuple[int, ...] = ()
    v_atol: float | None = None
    reason: str = ""
    v_until_first_spike: bool = False


FLOAT32 = ("the platform ran in float32 (relative rounding ~6e-8 per step, accumulated "
           "over the leaky trace): 1e-5 of the threshold")
COLUMNS = {
    "exact": Column("lif_exact.csv", "lif_norse.nir",
                    dict(dialect="explicit", dt=1e-4, integrator="exact", reset="to_value"),
                    (460, 510, 710, 760), 1e-12,
                    "event-driven float64 reference; before its first spike it is the exact "
                    "propagator with the input held for the step (spikecore exact/current); "
                    "it then resets inside the step, which no discrete contract reproduces",
                    v_until_first_spike=True),
    "norse": Column("lif_norse.csv", "lif_norse.nir", dict(dialect="norse", dt=1e-4),
                    (460, 510, 710, 760), 1e-6, FLOAT32),
    "snntorch": Column("lif_snntorch.csv", "lif_norse.nir", dict(dialect="snntorch"),
                       (460, 510, 710, 760), 2.5e-5,
                       FLOAT32 + "; snnTorch's units (threshold 2.5 = 0.1/(r dt/tau))"),
    "lava_float": Column("lif_lava_cpu_float.csv", "lif_norse.nir", dict(dialect="lava-paper"),
                         (461, 511, 711, 761), 1e-6,
                         "float32 parameters folded into Lava's weights: 1e-5 of threshold"),
    "lava_fixed": Column("lif_lava_cpu_fixed.csv", "lif_norse.nir", dict(dialect="lava-paper"),
                         (461, 511, 711, 761), None, "Loihi fixed-point units: spikes only"),
    "sinabs": Column("lif_sinabs.csv", "lif_norse.nir", dict(dialect="sinabs", dt=1e-4),
                     (450, 500, 710, 760), 1e-6, FLOAT32),
    "rockpool": Column("lif_rockpool.csv", "lif_rockpool.nir", dict(dialect="rockpool"),
                       (450, 500, 710, 760), 1e-6,
                       FLOAT32 + "; dt is recovered from the file's r (1e-4 s)"),
}


#: Pairs a backend refuses, with the reason (asserted, not skipped).
UNSUPPORTED = {"lava": ("sinabs", "rockpool")}  # Lava's LIF only resets to a value


@pytest.fixture(scope="module")
def paper() -> Path:
    """The NIR paper's LIF folder (fails in CI, skips elsewhere, when absent)."""
    return shared_fixture("nir_paper_lif", "lif_norse.nir").parent


def _available(name: str) -> None:
    a = sc.available_backends()[name]
    if name == "lava" and not a.available:
        pytest.skip(f"Lava unavailable here: {a.reason} (fix: {a.fix})")
    assert a.available, f"backend {name} must be available here: {a.reason}"


def test_published_columns_are_what_the_table_says(paper: Path) -> None:
    """Guards the fixture: the spike steps each column is expected to give."""
    for name, col in COLUMNS.items():
        data = np.loadtxt(paper / col.csv, delimiter=",")
        assert tuple(np.flatnonzero(data[:, 2])) == col.spikes, name


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("column", sorted(COLUMNS))
def test_column(paper: Path, column: str, backend: str) -> None:
    col = COLUMNS[column]
    _available(backend)
    data = np.loadtxt(paper / col.csv, delimiter=",")
    graph = sc.read(paper / col.nir_file, **col.read)
    # The csv's first column is the input exactly as the platform received it (the
    # Sinabs notebook fed 0.04-scaled spikes; the others 0/1).
    x = data[:, 0].reshape(1, -1, 1)
    (inp,) = [n for n, node in graph.nodes.items() if type(node).__name__ == "Input"]
    lif = LIF_NODE[col.nir_file]
    problems = get_backend(backend).check(graph.flatten())
    if problems:  # e.g. Lava has no subtractive reset: the exact refusal is the result
        with pytest.raises(sc.UnsupportedError) as info:
            sc.simulate(graph, {inp: x}, backend=backend, record=("spikes", "v"))
        for p in problems:
            assert p in str(info.value)
        assert column in UNSUPPORTED.get(backend, ()), f"{column} on {backend}: {problems}"
        return
    result = sc.simulate(graph, {inp: x}, backend=backend, record=("spikes", "v"))
    got = tuple(int(s) for s in np.flatnonzero(result.spikes[lif][0, :, 0]))
    assert got == col.spikes, f"{column} on {backend}: spikes at {got}, paper {col.spikes}"
    if col.v_atol is None:
        return
    v = result.traces[lif]["v"][0, :, 0]
    end = col.spikes[0] if col.v_until_first_spike else len(v)
    assert_close_arrays(v[:end], data[:end, 1], col.v_atol, f"{column} v on {backend}")
