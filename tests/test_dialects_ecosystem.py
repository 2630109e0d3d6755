"""Dialects of the SNN ecosystem: a file written by snnTorch, Sinabs, Rockpool or Norse,
read through its dialect, gives the spikes the producing library itself gives.

Every library test builds a small network *in that library*, exports it to NIR with the
library's own exporter, writes and re-reads the file, runs it through the library (its
own module or its own NIR import) and through spikecore (float64, Brian2 numpy target
and torch), and asserts identical spikes. Every library here is installed by `make test`:
one that does not import fails the test in CI and is skipped with the import error
elsewhere (``prerequisites.installed_library``). Expected values come from the libraries,
never from spikecore.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nir
import numpy as np
import pytest
from prerequisites import installed_library

import spikecore as sc
from spikecore.dialects import DIALECTS, get_dialect
from spikecore.testing import assert_close_arrays

torch = installed_library("torch", allow_module_level=True)

# Sinabs' and Rockpool's optional `samna` dependency is a PyPI stub that, on import,
# runs pip against a non-PyPI index. Nothing here needs it: make `import samna` fail fast
# (both libraries treat it as optional).
sys.modules.setdefault("samna", None)

STEPS = 60
BACKENDS = ("torch", "brian2")


def _library(name: str):
    """Import a producer library (installed by `make test`): in CI an import error fails
    the test, elsewhere it skips with the error (printed by pytest -rs)."""
    return installed_library(name)


def _spikecore_run(path: Path, output_node: str, x: np.ndarray, **read) -> dict[str, np.ndarray]:
    """Output spikes [steps, n] of the file's given node, per backend."""
    g = sc.read(path, **read)
    (inp,) = [n for n, node in g.nodes.items() if isinstance(node, nir.Input)]
    out = {}
    for backend in BACKENDS:
        r = sc.simulate(g, {inp: x[None]}, backend=backend, record=("spikes", "v"))
        out[backend] = r.spikes[output_node][0].astype(np.int64)
    return out


def _assert_spikes(expected: np.ndarray, got: dict[str, np.ndarray], what: str) -> None:
    expected = np.asarray(expected).astype(np.int64)
    assert expected.sum() > 0, f"{what}: the library's network never spiked; test is vacuous"
    for backend, z in got.items():
        bad = np.argwhere(z != expected)
        if bad.size:
            t, n = bad[0]
            raise AssertionError(f"{what} on {backend}: first difference at step {t}, "
                                 f"neuron {n}: spikecore {z[t, n]}, library {expected[t, n]}")


def _input_spikes(n: int, rate: float, seed: int, amplitude: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((STEPS, n)) < rate).astype(np.float64) * amplitude


# ================================================================= registry
def test_ecosystem_dialects_registered() -> None:
    for name in ("norse", "snntorch", "sinabs", "rockpool", "lava-paper", "norse-1.1-export"):
        d = get_dialect(name)
        assert d.description and d.name == name
        sc.Semantics(dt=1e-3, **d.choices)
    assert DIALECTS["sinabs"].choices["reset"] == "subtract"
    assert DIALECTS["rockpool"].default_dt is None and DIALECTS["rockpool"].infer_dt


def _lif_graph(**lif) -> nir.NIRGraph:
    params = dict(tau=np.array([0.02, 0.01]), r=np.array([1.0, 2.0]), v_leak=np.zeros(2),
                  v_threshold=np.array([0.5, 1.0]), v_reset=np.zeros(2))
    params.update(lif)
    return nir.NIRGraph(
        nodes={"in": nir.Input(input_type=np.array([2])),
               "w": nir.Affine(weight=np.eye(2), bias=np.zeros(2)),
               "cell": nir.LIF(**params),
               "out": nir.Output(output_type=np.array([2]))},
        edges=[("in", "w"), ("w", "cell"), ("cell", "out")], type_check=False)


def test_rewrites_do_not_mutate_their_argument() -> None:
    for name in ("snntorch", "sinabs", "norse-1.1-export", "lava-paper"):
        ng = _lif_graph()
        sc.from_nir(ng, dialect=name, dt=1e-3)
        np.testing.assert_array_equal(ng.nodes["cell"].tau, [0.02, 0.01])
        np.testing.assert_array_equal(ng.nodes["cell"].r, [1.0, 2.0])
        assert set(ng.nodes) == {"in", "w", "cell", "out"}


def test_snntorch_rewrite_is_snntorchs_import() -> None:
    """snnTorch: beta = 1 - dt/tau, input added undecayed, threshold / (r dt/tau)."""
    g = sc.from_nir(_lif_graph(), dialect="snntorch")
    cell = g.nodes["cell"]
    np.testing.assert_allclose(cell.r, [0.02 / 1e-4, 0.01 / 1e-4])
    np.testing.assert_allclose(cell.v_threshold, [0.5 / (1.0 * 1e-4 / 0.02),
                                                  1.0 / (2.0 * 1e-4 / 0.01)])


def test_snntorch_refuses_leak() -> None:
    with pytest.raises(sc.DialectError, match="v_leak"):
        sc.from_nir(_lif_graph(v_leak=np.array([0.1, 0.0])), dialect="snntorch")


def test_rockpool_dt_from_r() -> None:
    """Rockpool writes r = tau*exp(-dt/tau)/dt: the dialect recovers dt from it."""
    dt, tau = 1e-3, np.array([0.02, 0.005])
    ng = _lif_graph(tau=tau, r=tau * np.exp(-dt / tau) / dt)
    g = sc.from_nir(ng, dialect="rockpool")
    assert g.semantics.dt == pytest.approx(dt, rel=1e-9)
    with pytest.raises(sc.DialectError, match="different dt"):
        sc.from_nir(_lif_graph(tau=tau, r=np.array([1.0, 50.0])), dialect="rockpool")


def test_lava_paper_adds_one_step_per_dense() -> None:
    """Raw Lava: a Dense delivers one step late; two layers -> two steps."""
    ng = _lif_graph()
    g_contract = sc.from_nir(ng, dialect="norse", dt=1e-4)
    g_lava = sc.from_nir(ng, dialect="lava-paper")
    assert g_lava.semantics == g_contract.semantics.replace()
    x = np.zeros((1, 30, 2))
    x[0, [2, 3, 4, 10, 11, 12, 13], :] = 300.0
    a = sc.simulate(g_contract, {"in": x}, backend="torch").spikes["cell"][0]
    b = sc.simulate(g_lava, {"in": x}, backend="torch").spikes["cell"][0]
    assert a.any()
    np.testing.assert_array_equal(b[1:], a[:-1])
    assert not b[0].any()


# ================================================================= snnTorch
def test_snntorch_export_matches_snntorch(tmp_path: Path) -> None:
    snn = _library("snntorch")
    from snntorch.export_nir import export_to_nir
    from snntorch.import_nir import import_from_nir

    torch.manual_seed(1)

    def leaky(n: int, beta: float, output: bool = False):
        # Per-neuron beta/threshold: snnTorch 1.0's exporter writes scalars otherwise,
        # which nir 1.0.8's type inference rejects. reset as import_from_nir rebuilds it.
        return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.full((n,), 1.0),
                         init_hidden=True, output=output, reset_mechanism="zero",
                         reset_delay=False)

    net = torch.nn.Sequential(torch.nn.Linear(4, 6), leaky(6, 0.9), torch.nn.Linear(6, 3),
                              leaky(3, 0.8, output=True))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(3.0)
    path = tmp_path / "snntorch.nir"
    nir.write(path, export_to_nir(net, torch.zeros(4)))
    x = _input_spikes(4, 0.4, seed=2)

    # the original snnTorch network and snnTorch's import of the file
    for m in (net[1], net[3]):
        m.reset_hidden()
    with torch.no_grad():
        original = np.stack([net(torch.tensor(x[t:t + 1], dtype=torch.float32))[0][0].numpy()
                             for t in range(STEPS)])
        imported = import_from_nir(nir.read(path))
        steps = [imported(torch.tensor(x[t:t + 1], dtype=torch.float32)) for t in range(STEPS)]
        reimported = np.stack([(o[0] if isinstance(o, tuple) else o).numpy().reshape(-1)
                               for o in steps])
    np.testing.assert_array_equal(reimported, original)  # snnTorch agrees with itself
    g = sc.read(path, dialect="snntorch")
    out = [n for n, node in g.nodes.items() if isinstance(node, nir.LIF)][-1]
    _assert_spikes(original, _spikecore_run(path, out, x, dialect="snntorch"), "snntorch")


# =================================================================== Sinabs
def test_sinabs_export_matches_sinabs(tmp_path: Path) -> None:
    _library("sinabs")
    import sinabs.layers as sl
    from sinabs.nir import from_nir, to_nir

    torch.manual_seed(3)
    # per-neuron tensors: scalar parameters make nir.write fail (h5py scalar datasets)
    # norm_input=False: what Sinabs' from_nir rebuilds (its exporter does not store it).
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 6),
        sl.LIFSqueeze(tau_mem=torch.full((6,), 8.0), spike_threshold=torch.ones(6), batch_size=1,
                      norm_input=False),
        torch.nn.Linear(6, 3),
        sl.LIFSqueeze(tau_mem=torch.full((3,), 5.0), spike_threshold=torch.ones(3), batch_size=1,
                      norm_input=False))
    with torch.no_grad():
        net[0].weight.uniform_(-0.1, 0.5)
        net[2].weight.uniform_(-0.1, 0.6)
    path = tmp_path / "sinabs.nir"
    nir.write(path, to_nir(net, torch.zeros(1, 4)))
    x = _input_spikes(4, 0.4, seed=4)
    with torch.no_grad():
        imported = from_nir(nir.read(path), batch_size=1)
        got = imported(torch.tensor(x, dtype=torch.float32))
        lib = (got[0] if isinstance(got, tuple) else got).numpy()
    # Compared with Sinabs' reading of the file (from_nir), the library's own run of it.
    # spikecore's contract emits one spike per step; Sinabs' MultiSpike more when
    # v >= 2*threshold: this network must stay in the single-spike regime.
    assert lib.max() <= 1, "Sinabs emitted several spikes in one step: not representable"
    g = sc.read(path, dialect="sinabs")  # tau in steps: dt = 1 (one step)
    assert g.semantics.dt == 1.0
    out = [n for n, node in g.nodes.items() if isinstance(node, nir.LIF)][-1]
    _assert_spikes(lib, _spikecore_run(path, out, x, dialect="sinabs"), "sinabs")


# ================================================================= Rockpool
def test_rockpool_export_matches_rockpool(tmp_path: Path) -> None:
    _library("rockpool")
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    dt = 1e-3
    torch.manual_seed(5)
    net = Sequential(
        LinearTorch((4, 6)),
        LIFTorch(6, tau_mem=0.02, tau_syn=0.01, threshold=1.0, dt=dt),
        LinearTorch((6, 3)),
        LIFTorch(3, tau_mem=0.01, tau_syn=0.005, threshold=1.0, dt=dt),
    )
    with torch.no_grad():
        # small weights: Rockpool emits several spikes per step when v >= 2*threshold
        net[0].weight.data = torch.rand(4, 6) * 0.05
        net[2].weight.data = torch.rand(6, 3) * 0.08
    path = tmp_path / "rockpool.nir"
    nir.write(path, to_nir(net))
    x = _input_spikes(4, 0.4, seed=6)
    xt = torch.tensor(x[None], dtype=torch.float32)
    with torch.no_grad():
        original = net(xt)[0][0].numpy()
    assert original.max() <= 1, "several spikes per step: not representable"
    g = sc.read(path, dialect="rockpool")
    assert g.semantics.dt == pytest.approx(dt, rel=1e-6)  # recovered from r
    out = [n for n, node in g.nodes.items() if isinstance(node, nir.CubaLIF)][-1]
    _assert_spikes(original, _spikecore_run(path, out, x, dialect="rockpool"), "rockpool")
    # Not compared: Rockpool 3.1's own from_nir, which guesses a dt per layer as
    # min(tau_mem / (1 + r)) (a different, O(dt/tau)-off dt in each layer); spikecore has
    # one dt per graph. Its LIF (LIFNeuronTorch) import fails outright (reads `tau_mem`).


# ==================================================================== Norse
def test_norse_1_1_export_bug_is_undone(tmp_path: Path) -> None:
    """Norse 1.1.0's to_nir writes tau = dt*tau; dialect 'norse-1.1-export' reads such a
    file as the Norse module that wrote it."""
    norse = _library("norse.torch")
    dt = 1e-3
    torch.manual_seed(7)
    lin1, lin2 = torch.nn.Linear(4, 5, bias=False), torch.nn.Linear(5, 3, bias=False)
    with torch.no_grad():
        lin1.weight.uniform_(0.0, 4.0)
        lin2.weight.uniform_(0.0, 4.0)
    # per-neuron parameters: Norse's exporter needs every field of one shape
    p1 = norse.LIFBoxParameters(tau_mem_inv=torch.full((5,), 1 / 0.01), v_th=torch.full((5,), 0.3),
                                v_leak=torch.zeros(5), v_reset=torch.zeros(5))
    p2 = norse.LIFParameters(tau_mem_inv=torch.full((3,), 1 / 0.01),
                             tau_syn_inv=torch.full((3,), 1 / 0.005), v_th=torch.full((3,), 0.3),
                             v_leak=torch.zeros(3), v_reset=torch.zeros(3))
    model = norse.SequentialState(lin1, norse.LIFBoxCell(p1, dt=dt), lin2, norse.LIFCell(p2, dt=dt))
    path = tmp_path / "norse.nir"
    nir.write(path, norse.to_nir(model, torch.zeros(4), dt=dt))
    raw = nir.read(path)
    taus = [np.asarray(n.tau) for n in raw.nodes.values() if isinstance(n, nir.LIF)]
    np.testing.assert_allclose(taus[0], 0.01 * dt, rtol=1e-6)  # the bug, as documented
    x = _input_spikes(4, 0.4, seed=8)
    with torch.no_grad():
        state, outs = None, []
        for t in range(STEPS):
            z, state = model(torch.tensor(x[t:t + 1], dtype=torch.float32), state)
            outs.append(z[0].numpy())
    expected = np.stack(outs)
    g = sc.read(path, dialect="norse-1.1-export", dt=dt)
    lif = [n for n, node in g.nodes.items() if isinstance(node, nir.LIF)][0]
    np.testing.assert_allclose(g.nodes[lif].tau, 0.01, rtol=1e-6)
    out = [n for n, node in g.nodes.items() if isinstance(node, nir.CubaLIF)][0]
    _assert_spikes(expected, _spikecore_run(path, out, x, dialect="norse-1.1-export", dt=dt),
                   "norse 1.1 export")


def _f64(t) -> np.ndarray:
    """A Norse parameter (a float32 tensor, maybe requiring grad) as float64 numpy."""
    return t.detach().double().numpy()


def _norse_layer_outputs(layers: list, x: np.ndarray) -> list[np.ndarray]:
    """Each layer's output [steps, n] of Norse's own step-by-step forward pass."""
    states: list = [None] * len(layers)
    outs: list[list[np.ndarray]] = [[] for _ in layers]
    with torch.no_grad():
        for t in range(x.shape[0]):
            h = torch.tensor(x[t:t + 1], dtype=torch.float32)
            for k, layer in enumerate(layers):
                if isinstance(layer, torch.nn.Linear):
                    h = layer(h)
                else:
                    h, states[k] = layer(h, states[k])
                outs[k].append(h[0].numpy().astype(np.float64))
    return [np.stack(o) for o in outs]


def test_norse_1_1_export_with_if_and_li_readout(tmp_path: Path) -> None:
    """Norse 1.1.0's to_nir on LIFBox -> IAF -> LIBox (LI readout): the dialect undoes the
    export for every neuron Norse writes, not only LIF. Norse's own updates (its
    functional *_feed_forward_step) are the reference: LIBox v += dt/tau*((v_leak - v) + x),
    IAF v += x (no dt); spikecore's coefficients and both backends' runs must be those."""
    norse = _library("norse.torch")
    from spikecore.discrete import neuron_coefficients

    dt = 5e-4  # not the dialect's default: the rewrite must use the dt it is given
    tau_lif, tau_li = 0.01, 0.02
    torch.manual_seed(11)
    lin1, lin2, lin3 = (torch.nn.Linear(a, b, bias=False) for a, b in ((4, 5), (5, 4), (4, 3)))
    with torch.no_grad():
        lin1.weight.uniform_(0.0, 4.0)
        lin2.weight.uniform_(0.05, 0.3)
        lin3.weight.uniform_(-0.5, 1.0)
    lif = norse.LIFBoxCell(norse.LIFBoxParameters(
        tau_mem_inv=torch.full((5,), 1 / tau_lif), v_th=torch.full((5,), 0.3),
        v_leak=torch.zeros(5), v_reset=torch.zeros(5)), dt=dt)
    iaf = norse.IAFCell(norse.IAFParameters(v_th=torch.full((4,), 0.5),
                                            v_reset=torch.zeros(4)), dt=dt)
    li = norse.LIBoxCell(norse.LIBoxParameters(tau_mem_inv=torch.full((3,), 1 / tau_li),
                                               v_leak=torch.full((3,), 0.25)), dt=dt)
    layers = [lin1, lif, lin2, iaf, lin3, li]
    path = tmp_path / "norse_if_li.nir"
    nir.write(path, norse.to_nir(norse.SequentialState(*layers), torch.zeros(4), dt=dt))
    raw = nir.read(path)
    (raw_li,) = [n for n in raw.nodes.values() if isinstance(n, nir.LI)]
    (raw_if,) = [n for n in raw.nodes.values() if isinstance(n, nir.IF)]
    np.testing.assert_allclose(raw_li.tau, tau_li * dt, rtol=1e-6)  # the bug, for LI too
    np.testing.assert_array_equal(raw_if.r, 1.0)  # IAF's v += x written as r = 1

    g = sc.read(path, dialect="norse-1.1-export", dt=dt)
    (n_lif,) = [n for n, node in g.nodes.items() if isinstance(node, nir.LIF)]
    (n_if,) = [n for n, node in g.nodes.items() if isinstance(node, nir.IF)]
    (n_li,) = [n for n, node in g.nodes.items() if isinstance(node, nir.LI)]
    np.testing.assert_allclose(g.nodes[n_li].tau, tau_li, rtol=1e-6)
    np.testing.assert_array_equal(g.nodes[n_li].v_leak, _f64(li.p.v_leak))
    np.testing.assert_array_equal(g.nodes[n_if].v_threshold, _f64(iaf.p.v_th))
    # spikecore's update of each node against Norse's step, coefficient by coefficient
    co_li = neuron_coefficients(g.nodes[n_li], g.semantics)
    k = dt * _f64(li.p.tau_mem_inv)
    np.testing.assert_allclose(co_li.a_mem, 1 - k, rtol=1e-6)
    np.testing.assert_allclose(co_li.k_x, k, rtol=1e-6)
    np.testing.assert_allclose(co_li.c, k * _f64(li.p.v_leak), rtol=1e-6)
    np.testing.assert_allclose(co_li.v_initial, _f64(li.p.v_leak), rtol=1e-6)
    co_if = neuron_coefficients(g.nodes[n_if], g.semantics)
    np.testing.assert_allclose(co_if.a_mem, 1.0, rtol=1e-12)
    np.testing.assert_allclose(co_if.k_x, 1.0, rtol=1e-12)  # v += x, whatever dt
    np.testing.assert_array_equal(co_if.v_reset, _f64(iaf.p.v_reset))

    x = _input_spikes(4, 0.4, seed=12)
    ref = _norse_layer_outputs(layers, x)
    z_lif, z_if, v_li = ref[1], ref[3], ref[5]
    assert z_lif.sum() > 0 and z_if.sum() > 0, "Norse's network never spiked: test is vacuous"
    assert np.ptp(v_li) > 0.1, "the LI readout hardly moved: test is vacuous"
    for backend in BACKENDS:
        r = sc.simulate(g, x, backend=backend, record=("spikes", "v"))
        _assert_spikes(z_lif, {backend: r.spikes[n_lif][0].astype(np.int64)}, "norse LIFBox")
        _assert_spikes(z_if, {backend: r.spikes[n_if][0].astype(np.int64)}, "norse IAF")
        # Norse runs float32: agreement to float32 rounding, not better
        np.testing.assert_allclose(r.traces[n_li]["v"][0], v_li, rtol=1e-5, atol=1e-5,
                                   err_msg=f"LI readout v on {backend} vs Norse")


def test_norse_1_1_export_limits_with_if_and_li() -> None:
    """What Norse 1.1.0's exporter cannot write, so no dialect can read it back: an LICell
    (LI with a synaptic current) becomes a ``None`` node, and IAFCell's v_reset is dropped
    (the IF node gets NIR's default 0). If Norse fixes either, this test says so."""
    norse = _library("norse.torch")
    lin = torch.nn.Linear(4, 3, bias=False)
    g = norse.to_nir(norse.SequentialState(lin, norse.LICell(dt=1e-3)), torch.zeros(4), dt=1e-3)
    assert [type(n).__name__ for n in g.nodes.values()].count("NoneType") == 1
    iaf = norse.IAFCell(norse.IAFParameters(v_th=torch.full((3,), 0.5),
                                            v_reset=torch.full((3,), 0.1)), dt=1e-3)
    g = norse.to_nir(norse.SequentialState(lin, iaf), torch.zeros(4), dt=1e-3)
    (node,) = [n for n in g.nodes.values() if isinstance(n, nir.IF)]
    np.testing.assert_array_equal(node.v_reset, 0.0)


def test_spikecore_from_torch_writes_true_time_constants(tmp_path: Path) -> None:
    """spikecore's own export keeps tau in seconds (no dt factor, unlike Norse 1.1.0),
    also after training changed it."""
    ng = _lif_graph()
    g = sc.from_nir(ng, dialect="norse", dt=1e-4)
    module = sc.to_torch(g, dtype=torch.float64, trainable="all")
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "tau" in name:
                p.mul_(1.5) if "inv" not in name else p.div_(1.5)
    back = sc.from_torch(module)
    sc.write(back, tmp_path / "trained.nir")
    raw = nir.read(tmp_path / "trained.nir")
    np.testing.assert_allclose(np.asarray(raw.nodes["cell"].tau), [0.03, 0.015], rtol=1e-12)
    x = np.zeros((1, 40, 2))
    x[0, ::3] = 60.0
    a = sc.simulate(sc.read(tmp_path / "trained.nir"), {"in": x}, backend="brian2",
                    record=("spikes", "v"))
    b = sc.simulate(back, {"in": x}, backend="torch", record=("spikes", "v"))
    assert a.spikes["cell"].any()
    np.testing.assert_array_equal(a.spikes["cell"], b.spikes["cell"])
    assert_close_arrays(a.traces["cell"]["v"], b.traces["cell"]["v"], 1e-9, "v")
