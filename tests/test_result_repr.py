"""``Result`` has a short, one-line repr."""

from __future__ import annotations

import numpy as np

import spikecore as sc


def test_repr_is_one_short_line():
    z = np.zeros((2, 50, 3), bool)
    z[0, 4, 1] = z[1, 7, 2] = True
    r = sc.Result(spikes={"lif1": z, "lif2": np.zeros((2, 50, 1), bool)},
                  traces={"lif1": {"v": np.zeros((2, 50, 3))}}, dt=1e-3, backend="torch",
                  wall_time=0.01234)
    text = repr(r)
    assert text == ("<Result torch: 2 x 50 steps, dt=0.001 s, spikes lif1=2 lif2=0, "
                    "1 trace(s), wall 0.0123 s>")
    assert "\n" not in text and str(r) == text


def test_repr_of_many_nodes_and_of_an_empty_result_stays_short():
    many = sc.Result(spikes={f"n{k}": np.ones((1, 1000, 500), bool) for k in range(40)},
                     dt=1e-4, backend="brian2")
    text = repr(many)
    assert len(text) < 160 and "(+35 more)" in text and "n0=500" in text
    assert repr(sc.Result()) == "<Result ?: 0 x 0 steps, dt=0 s, spikes none recorded, wall 0 s>"


def test_repr_of_a_simulation():
    import spikecore.models as zoo

    g = zoo.feedforward_lif(sizes=(3, 4, 2), seed=1)
    x = zoo.poisson_input(3, 40, 200.0, g.semantics.dt, seed=1)
    r = sc.simulate(g, x, backend="torch")
    text = repr(r)
    assert text.startswith("<Result torch: 1 x 40 steps, dt=0.001 s, spikes ")
    for name, z in r.spikes.items():
        assert f"{name}={int(z.sum())}" in text
