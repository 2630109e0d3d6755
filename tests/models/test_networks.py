"""Graph builders of spikecore.models.networks: structure, parameters, errors, and that the
graphs run identically on Brian2 and torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from spikecore.models import (
    brunel2000,
    lif_population_noise,
    lsnn,
    rate_network,
    scs_rate_network,
)

import spikecore as sc
from spikecore.discrete import neuron_coefficients
from spikecore.errors import InputError
from spikecore.extensions import ALIF, OUSource, PoissonSource, RateUnit, WhiteNoiseSource
from spikecore.testing import assert_close_arrays, assert_same_spikes

TORCH = {"dtype": torch.float64}


def test_brunel2000_external_drive_carries_eta_nu_thr_per_synapse():
    J, tau, theta, eta, dt = 0.1e-3, 20e-3, 20e-3, 2.0, 1e-4
    g = brunel2000(N_E=400, epsilon=0.1, J=J, eta=eta, dt=dt, seed=2)
    C_E = 40
    nu_thr = theta / (J * C_E * tau)                      # Brunel (2000), eq. 6
    sources = [n for n, v in g.nodes.items() if isinstance(v, PoissonSource)]
    total = sum(float(g.nodes[n].rate[0]) for n in sources)
    assert total == pytest.approx(C_E * eta * nu_thr, rel=1e-12)
    p = total * dt / len(sources)
    assert p <= 0.1 and len(sources) == math.ceil(C_E * eta * nu_thr * dt / 0.1)
    assert {g.nodes[n].seed for n in sources} == {2}       # one seed, streams differ by name
    assert all(e.target == "external" for n in sources for e in g.outgoing(n))
    np.testing.assert_array_equal(g.nodes["external"].scale, J)
    assert g.semantics.input_meaning == "increment" and g.semantics.integrator == "exact"


def test_brunel2000_small_runs_identically_on_brian2_and_torch_with_stimulus():
    g = brunel2000(N_E=80, epsilon=0.1, J=0.5e-3, g=5.0, eta=2.0, seed=3, stimulus=True)
    x = np.zeros((2, 400, 100))
    x[:, 50, :10] = 0.02  # a 20 mV kick to ten neurons: they spike at once
    rb = sc.simulate(g, x, backend="brian2", record="neurons:spikes")
    rt = sc.simulate(g, x, backend="torch", record="neurons:spikes", **TORCH)
    assert_same_spikes(rb, rt)
    assert rb.spikes["neurons"][:, 50, :10].all()
    assert rb.spikes["neurons"].sum() > 100
    # batch elements draw their own streams
    assert not np.array_equal(rb.spikes["neurons"][0], rb.spikes["neurons"][1])


@pytest.mark.parametrize("kwargs,match", [
    ({"D": 1.55e-3}, "whole number"),
    ({"p_max": 0.0}, "p_max"),
    ({"J": -1.0}, "J="),
])
def test_brunel2000_rejects_bad_parameters(kwargs, match):
    with pytest.raises(InputError, match=match):
        brunel2000(N_E=40, **kwargs)


def test_rate_network_structure_and_step():
    J = np.array([[0.0, 2.0], [-1.0, 0.5]])
    g = rate_network(J, tau=1.0, dt=0.1, x0=np.array([0.3, -0.2]), with_input=True)
    assert isinstance(g.nodes["units"], RateUnit)
    assert [e.delay_steps for e in g.incoming("units") if e.source == "coupling"] == [1]
    # x[t] = 0.9 x[t-1] + 0.1 (J tanh(x[t-1]) + I[t]); in step 0 the coupling sends 0.
    inp = np.array([[0.5, 0.0], [0.0, 0.0], [0.0, 1.0]])
    r = sc.simulate(g, inp, backend="torch", record="units:x", **TORCH)
    x, expect = np.array([0.3, -0.2]), []
    for t in range(3):
        drive = inp[t] + (J @ np.tanh(x) if t else 0.0)
        x = 0.9 * x + 0.1 * drive
        expect.append(x)
    assert_close_arrays(r.traces["units"]["x"][0], np.array(expect), atol=1e-15)
    with pytest.raises(InputError, match="square"):
        rate_network(np.ones((2, 3)))


def test_scs_rate_network_is_seeded():
    a, b = scs_rate_network(50, 1.5, seed=7), scs_rate_network(50, 1.5, seed=7)
    np.testing.assert_array_equal(a.nodes["coupling"].weight, b.nodes["coupling"].weight)
    np.testing.assert_array_equal(a.nodes["units"].x0, b.nodes["units"].x0)
    c = scs_rate_network(50, 1.5, seed=8)
    assert not np.array_equal(a.nodes["coupling"].weight, c.nodes["coupling"].weight)


@pytest.mark.parametrize("noise,cls", [("white", WhiteNoiseSource), ("ou", OUSource)])
def test_lif_population_noise_brian2_equals_torch(noise, cls):
    g = lif_population_noise(20, mu=0.9, sigma=0.4, noise=noise, tau_rp=2e-3, dt=1e-4, seed=1)
    assert isinstance(g.nodes["noise"], cls)
    rb = sc.simulate(g, None, backend="brian2", steps=2000, record=("spikes", "v"))
    rt = sc.simulate(g, None, backend="torch", steps=2000, record=("spikes", "v"), **TORCH)
    assert_same_spikes(rb, rt)
    assert rb.spikes["neurons"].sum() > 20
    assert_close_arrays(rb.traces["neurons"]["v"], rt.traces["neurons"]["v"], atol=1e-12)
    with pytest.raises(InputError, match="noise="):
        lif_population_noise(5, noise="pink")


def test_lsnn_structure_and_backends_agree():
    g = lsnn(n_in=10, n_lif=15, n_alif=10, n_out=3, seed=2)
    rec = g.nodes["rec"]
    assert isinstance(rec, ALIF)
    np.testing.assert_array_equal(rec.beta[:15], 0.0)
    np.testing.assert_array_equal(rec.beta[15:], 1.8)
    assert [e.delay_steps for e in g.incoming("rec") if e.source == "w_rec"] == [1]
    np.testing.assert_array_equal(np.diag(g.nodes["w_rec"].weight), 0.0)
    x = (np.random.default_rng(0).random((2, 200, 10)) < 0.1).astype(float)
    rb = sc.simulate(g, x, backend="brian2", record=("spikes", "v", "rec:a"))
    rt = sc.simulate(g, x, backend="torch", record=("spikes", "v", "rec:a"), **TORCH)
    assert_same_spikes(rb, rt)
    assert rb.spikes["rec"].sum() > 50
    assert_close_arrays(rb.outputs["output"], rt.outputs["output"], atol=1e-12)
    # the ALIF part adapts (a counts its spikes; in the LIF part beta = 0 ignores a)
    assert_close_arrays(rb.traces["rec"]["a"], rt.traces["rec"]["a"], atol=1e-12)
    assert rb.traces["rec"]["a"][..., 15:].max() > 0


def test_lsnn_readout_is_the_papers_leaky_sum():
    # y[t] = kappa y[t-1] + W_out z[t]: one spike of neuron j adds exactly W_out[:, j]
    g = lsnn(n_in=3, n_lif=2, n_alif=2, n_out=2, seed=4, tau_out=30e-3)
    co = neuron_coefficients(g.nodes["readout"], g.semantics, (2,))
    np.testing.assert_allclose(co.k_x, 1.0, rtol=1e-12)
    np.testing.assert_allclose(co.a_mem, np.exp(-1e-3 / 30e-3), rtol=1e-12)


def test_lsnn_is_an_eprop_network():
    # e-prop finds the input projection, the delay-1 recurrence on the ALIF population and
    # the LI readout, and produces gradients for all three weight matrices.
    from spikecore.learning import EProp

    m = sc.to_torch(lsnn(n_in=10, n_lif=15, n_alif=10, n_out=2, seed=2), dtype=torch.float64)
    x = (torch.rand(4, 100, 10, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64) < 0.1).double()
    loss = EProp(m).backward(x, torch.zeros(4, dtype=torch.long), loss="ce")
    assert math.isfinite(float(loss))
    grads = {n: p.grad for n, p in m.named_parameters()}
    for part in ("w_in", "w_rec", "w_out"):
        g = next(v for k, v in grads.items() if k.endswith(f"node_{part}.weight"))
        assert g is not None and float(g.abs().sum()) > 0, part


def test_brunel2000_round_trips_through_a_spikecore_file(tmp_path):
    # Extension nodes (RefractoryLIF, PoissonSource) and the delayed edge survive the file;
    # the seeded streams are keyed by node names, so the copy spikes identically.
    g = brunel2000(N_E=40, epsilon=0.1, J=0.5e-3, seed=1)
    h = sc.read(sc.write(g, tmp_path / "brunel.nir"))
    assert sorted(h.nodes) == sorted(g.nodes) and h.edges == g.edges
    assert h.semantics == g.semantics
    a = sc.simulate(g, None, backend="torch", steps=300, record="neurons:spikes", **TORCH)
    b = sc.simulate(h, None, backend="torch", steps=300, record="neurons:spikes", **TORCH)
    assert a.spikes["neurons"].sum() > 50
    assert_same_spikes(a, b)
