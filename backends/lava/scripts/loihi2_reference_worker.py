"""Reference run of a fixed-point network in Lava's bit-accurate models (Python 3.10).

Run *by path* under the Lava sidecar interpreter (lava-nc 0.10 imports only on Python
3.10), never imported by spikecore itself::

    <lava-python> loihi2_reference_worker.py job_in.npz job_out.npz

It builds, with nothing but Lava's own processes, the network described by
``job_in.npz`` (written by ``spikecore.hardware.loihi2.emulation.write_reference_job``):
one ``RingBuffer`` per input, one ``LIF`` per population and one ``Dense`` per
connection, all run with ``Loihi2SimCfg(select_tag="fixed_pt")`` so that Lava picks
``PySendModelFixed``, ``PyDenseModelBitAcc`` and ``PyLifModelBitAcc``. Monitors record
``u``, ``v`` (after reset) and the spikes of every population in every step. The output
holds them as ``pop{k}_u``, ``pop{k}_v``, ``pop{k}_s`` of shape ``[steps, n]`` on Lava's
own time axis (no realignment: each ``Dense`` adds one step, the caller realigns), plus
``wall_time`` (seconds in ``run``) and ``build_time``.

Lava's ``Dense`` delivers one step late, so a population ``L`` Dense hops from the input
(its lag, ``pop{k}_lag``) receives its first input at Lava step ``L``. To make Lava step
``L + t`` equal the contract's step ``t`` exactly, the population is held at rest
(u = v = bias = 0, a fixed point of the update without input) for its first ``L`` steps,
and its initial state and bias are set at the end of Lava step ``L - 1``.

Input layout (all integer arrays): ``steps``; ``n_inputs``; ``input{j}`` spikes
``[n, steps]``; ``n_pops``; ``pop{k}_{du,dv,vth}`` scalars and ``pop{k}_{bias_mant,
bias_exp,v_init,u_init}`` vectors; ``n_conns``; ``conn{c}_src_kind`` (0 input, 1
population), ``conn{c}_src``, ``conn{c}_dst``, ``conn{c}_weights`` (mantissas, shape
``[out, in]``) and ``conn{c}_weight_exp``.
"""

import sys
import time

import numpy as np


def main(path_in: str, path_out: str) -> int:
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    t0 = time.perf_counter()
    job = np.load(path_in)
    steps = int(job["steps"])
    sources = [RingBuffer(data=job[f"input{j}"].astype(np.int32))
               for j in range(int(job["n_inputs"]))]
    pops, lags = [], []
    for k in range(int(job["n_pops"])):
        p = f"pop{k}_"
        n = int(job[p + "v_init"].shape[0])
        lags.append(int(job[p + "lag"]))
        # Held at rest (u = v = bias = 0, which the bit-accurate update keeps at 0 with no
        # input) until the step before its input first arrives; see _release.
        zero = np.zeros(n, dtype=np.int32)
        pops.append(LIF(shape=(n,), du=int(job[p + "du"]), dv=int(job[p + "dv"]),
                        vth=int(job[p + "vth"]), bias_mant=zero,
                        bias_exp=job[p + "bias_exp"].astype(np.int32), v=zero, u=zero,
                        name=f"pop{k}"))
    for c in range(int(job["n_conns"])):
        p = f"conn{c}_"
        src = (sources if int(job[p + "src_kind"]) == 0 else pops)[int(job[p + "src"])]
        dense = Dense(weights=job[p + "weights"].astype(np.int32),
                      weight_exp=int(job[p + "weight_exp"]), num_weight_bits=8,
                      name=f"conn{c}")
        src.s_out.connect(dense.s_in)
        dense.a_out.connect(pops[int(job[p + "dst"])].a_in)
    monitors = []
    for lif in pops:
        mu, mv, ms = Monitor(), Monitor(), Monitor()
        mu.probe(lif.u, steps)
        mv.probe(lif.v, steps)
        ms.probe(lif.s_out, steps)
        monitors.append((mu, mv, ms))
    build_time = time.perf_counter() - t0
    anchor = pops[0]
    out = {}
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    max_lag = max(lags, default=0)
    try:
        t1 = time.perf_counter()
        # A population with lag L starts its own step 0 at Lava step L: release it (set
        # its initial state and bias) at the end of Lava step L - 1.
        for step in range(max_lag):
            anchor.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
            for k, lif in enumerate(pops):
                if lags[k] == step + 1:
                    _release(lif, job, f"pop{k}_")
        anchor.run(condition=RunSteps(num_steps=steps - max_lag), run_cfg=cfg)
        wall = time.perf_counter() - t1
        for k, (lif, (mu, mv, ms)) in enumerate(zip(pops, monitors, strict=True)):
            out[f"pop{k}_u"] = np.asarray(mu.get_data()[lif.name]["u"]).astype(np.int64)
            out[f"pop{k}_v"] = np.asarray(mv.get_data()[lif.name]["v"]).astype(np.int64)
            out[f"pop{k}_s"] = np.asarray(ms.get_data()[lif.name]["s_out"]).astype(np.int64)
    finally:
        anchor.stop()
    np.savez(path_out, wall_time=wall, build_time=build_time, **out)
    return 0


def _release(lif, job, p: str) -> None:
    lif.v.set(job[p + "v_init"].astype(np.int32))
    lif.u.set(job[p + "u_init"].astype(np.int32))
    lif.bias_mant.set(job[p + "bias_mant"].astype(np.int32))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write("usage: loihi2_reference_worker.py job_in.npz job_out.npz\n")
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
