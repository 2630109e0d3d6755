"""Extension primitives: what NIR 1.0 cannot say, kept apart so plain NIR stays plain.

Each extension is a dataclass node (like NIR's own) registered in
:data:`spikecore.primitives.SPECS`. One module per family holds the nodes, their checks and
their exact discrete update, written once over an array namespace (``docs/semantics.md``
§7): :mod:`.refractory`, :mod:`.alif`, :mod:`.rate`, :mod:`.cond_lif`, :mod:`.izhikevich`,
:mod:`.morris_lecar`, :mod:`.sources`, :mod:`.ltc`, :mod:`.sparse`,
:mod:`.plasticity`; :mod:`.base` holds the
node base class, the type registry and the file records. Every name is re-exported here.
A new family module in this package is imported (and so registered) automatically.

==================  =====================================================================
node                meaning
==================  =====================================================================
RefractoryLIF       LIF that, after a spike, holds ``v`` and ignores input for
                    ``n = round(t_ref / dt)`` steps
RefractoryCubaLIF   CubaLIF with the same refractory period (the synaptic current keeps
                    filtering its input; only the membrane is held)
ALIF                adaptive-threshold LIF (e-prop, Bellec et al. 2020): threshold
                    ``v_threshold + beta * a``, ``a`` decays with ``tau_adapt``, +1 per spike
LTCLIF              liquid time-constant LIF (LTC-SNN, Yin et al. 2023): sigmoid gates over
                    input and state set the per-step membrane rate and adaptation decay
                    (:mod:`.ltc`)
PoissonSource       seeded Bernoulli spike trains, probability ``rate * dt`` per step
WhiteNoiseSource    seeded white-noise current ``mean + sigma * xi / sqrt(dt)``
OUSource            seeded Ornstein-Uhlenbeck current (mean, stationary std ``sigma``, ``tau``)
RateUnit            rate unit ``tau dx/dt = -x + input``, output ``phi(x)``
CondLIF             LIF with excitatory and inhibitory conductances (reversal potentials);
                    input ``(2, *shape)``: row 0 excitatory, row 1 inhibitory increments
Izhikevich          Izhikevich (2003) neuron (a, b, c, d; mV and ms as in the paper)
MorrisLecar         Morris-Lecar neuron (mV, ms, uA/cm^2); spikes at upward crossings
MorrisLecarGraded   the same neuron sending the graded synaptic activation ``s_inf(V)``
SparseLinear        ``y = W x`` with ``W`` in CSR form (:mod:`.sparse`)
STDPLinear          ``y = W x`` whose ``W`` learns by all-to-all pair or triplet STDP;
                    input ``[pre, post of the last step]`` (:mod:`.plasticity`)
VogelsLinear        the same wiring, ``W`` learning by Vogels et al. (2011) inhibitory STDP
                    toward a target post rate ``rho0``
HebbianLinear       the same wiring on rates, ``dW/dt = eta (r_post - theta) r_pre`` clipped
==================  =====================================================================

**Files.** In a spikecore NIR file an extension node is not a NIR node (``nir.read``
knows no such type): it is stored under the graph's metadata key
:data:`EXTENSIONS_KEY` as a group per node (``type`` plus one dataset per field), and
the full edge list with delays is kept in the spikecore JSON metadata. ``nir.read``
reads such a file as the plain part of the graph plus metadata; spikecore restores the
graph exactly. ``to_nir(graph, plain=True)`` refuses extension nodes, naming them
(except those whose spec has a ``plain`` decomposition: SparseLinear -> dense Linear).
"""

from __future__ import annotations

import importlib
import pkgutil

from .alif import ALIF, ALIFCoefficients, ALIFState, alif_coefficients, alif_step
from .base import (
    EXTENSION_TYPES,
    EXTENSIONS_KEY,
    Extension,
    extra_problems,
    from_record,
    is_extension,
    register_extension,
    to_record,
)
from .cond_lif import (
    CondLIF,
    CondLIFCoefficients,
    CondLIFState,
    cond_lif_coefficients,
    cond_lif_step,
    split_conductance_input,
)
from .izhikevich import (
    IZHIKEVICH_TIME_UNIT,
    Izhikevich,
    IzhikevichCoefficients,
    IzhikevichState,
    izhikevich_coefficients,
    izhikevich_h,
    izhikevich_step,
)
from .ltc import (
    LTCLIF,
    LTCCoefficients,
    LTCState,
    ltc_coefficients,
    ltc_gates,
    ltc_initial_state,
    ltc_step,
)
from .morris_lecar import (
    ML_CONDUCTANCE,
    ML_CURRENT,
    ML_FIELDS,
    ML_INPUT_KINDS,
    MORRIS_LECAR_TIME_UNIT,
    MORRIS_LECAR_TYPE_I,
    MORRIS_LECAR_TYPE_II,
    MorrisLecar,
    MorrisLecarCoefficients,
    MorrisLecarGraded,
    MorrisLecarState,
    morris_lecar_coefficients,
    morris_lecar_h,
    morris_lecar_step,
    split_morris_lecar_input,
    upward_crossing,
)
from .plasticity import (
    HebbianLinear,
    STDPCoefficients,
    STDPLinear,
    STDPState,
    VogelsLinear,
    stdp_coefficients,
    stdp_connection,
    stdp_step,
)
from .rate import PHIS, RateCoefficients, RateState, RateUnit, phi, rate_coefficients, rate_step
from .refractory import (
    REFRACTORY_TYPES,
    RefractoryCubaLIF,
    RefractoryLIF,
    RefractoryState,
    RefractorySynapticState,
    refractory_step,
    refractory_steps,
)
from .sources import (
    SOURCE_TYPES,
    OUSource,
    PoissonSource,
    WhiteNoiseSource,
    graph_streams,
    philox_key,
    source_initial_state,
    source_stream,
)
from .sparse import SparseLinear

# A family module added to this package registers itself on import, whether or not it is
# re-exported above.
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

#: Extension neurons (stateful, driven by the graph) and sources (driven by a seed).
NEURON_EXTENSIONS = (RefractoryLIF, RefractoryCubaLIF, ALIF, RateUnit, CondLIF, Izhikevich,
                     MorrisLecar, MorrisLecarGraded, LTCLIF)
SOURCE_EXTENSIONS = SOURCE_TYPES

__all__ = [
    "ALIF", "ALIFCoefficients", "ALIFState", "CondLIF", "CondLIFCoefficients", "CondLIFState",
    "EXTENSIONS_KEY", "EXTENSION_TYPES", "Extension", "HebbianLinear", "IZHIKEVICH_TIME_UNIT", "Izhikevich",
    "IzhikevichCoefficients", "IzhikevichState", "LTCCoefficients", "LTCLIF", "LTCState",
    "ML_CONDUCTANCE", "ML_CURRENT", "ML_FIELDS", "ML_INPUT_KINDS", "MORRIS_LECAR_TIME_UNIT",
    "MORRIS_LECAR_TYPE_I", "MORRIS_LECAR_TYPE_II", "MorrisLecar", "MorrisLecarCoefficients",
    "MorrisLecarGraded", "MorrisLecarState", "NEURON_EXTENSIONS", "OUSource", "PHIS",
    "PoissonSource", "REFRACTORY_TYPES", "RateCoefficients", "RateState", "RateUnit",
    "RefractoryCubaLIF", "RefractoryLIF", "RefractoryState", "RefractorySynapticState",
    "SOURCE_EXTENSIONS", "SOURCE_TYPES", "STDPCoefficients", "STDPLinear", "STDPState",
    "SparseLinear", "VogelsLinear", "WhiteNoiseSource",
    "alif_coefficients", "alif_step", "cond_lif_coefficients", "cond_lif_step",
    "extra_problems", "from_record", "graph_streams", "is_extension", "izhikevich_coefficients",
    "izhikevich_h", "izhikevich_step", "ltc_coefficients", "ltc_gates", "ltc_initial_state",
    "ltc_step",
    "morris_lecar_coefficients", "morris_lecar_h", "morris_lecar_step", "phi", "philox_key",
    "rate_coefficients", "rate_step", "refractory_step", "refractory_steps",
    "register_extension", "source_initial_state", "source_stream", "split_conductance_input",
    "split_morris_lecar_input", "stdp_coefficients", "stdp_connection", "stdp_step",
    "to_record", "upward_crossing",
]
