"""Online learning rules for recurrent networks, one interface (:mod:`.base`).

Gradient-based online rules of Marschall, Cho & Savin (2020): exact RTRL, UORO,
KF-RTRL, RFLO and e-prop, and ModProp (Liu et al. 2022) (:mod:`.rules`; e-prop also on
any ``to_torch`` module with one LIF/ALIF layer, :mod:`.graph_eprop`), for the rate
RNN of that paper and a recurrent LIF network under the contract with a surrogate
gradient, built from or exported to a spikecore graph (:mod:`.networks`), checked
against BPTT (:func:`bptt_gradients`) on the paper's add task (:mod:`.tasks`,
:mod:`.alignment`). FPTT (Kag & Saligrama 2021) for any stateful spikecore torch module,
with autograd memory measured (:mod:`.fptt`). Evolution strategies (OpenAI-ES, CMA-ES)
train a graph's parameters forward-only on any backend (:mod:`.evolution`).
"""

from __future__ import annotations

from .alignment import alignment_after_training, alignment_at_init, train_online
from .base import (
    GradientDifference,
    OnlineRule,
    Rule,
    assert_gradients_close,
    bptt_gradients,
    compare_gradients,
    cosine,
    rule_gradients,
)
from .evolution import (
    CMAES,
    EvolutionResult,
    OpenAIES,
    ParameterSpace,
    evaluate_population,
    evolve,
)
from .fptt import (
    FPTT,
    SavedBytes,
    bptt_saved_bytes,
    evidence_loss,
    evidence_task,
    fptt_saved_bytes,
    saved_bytes,
)
from .graph_eprop import GraphEProp
from .networks import LIFRNN, OnlineRNN, RateRNN
from .rules import KFRTRL, RFLO, RTRL, RULES, UORO, EProp, ModProp
from .tasks import add_task

__all__ = [
    "CMAES", "EvolutionResult", "OpenAIES", "ParameterSpace", "evaluate_population", "evolve",
    "EProp", "FPTT", "GradientDifference", "GraphEProp", "KFRTRL", "LIFRNN", "ModProp",
    "OnlineRNN", "OnlineRule", "RFLO", "RTRL", "RULES", "RateRNN", "Rule", "SavedBytes", "UORO",
    "add_task", "alignment_after_training", "alignment_at_init", "assert_gradients_close",
    "bptt_gradients", "bptt_saved_bytes", "compare_gradients", "cosine", "evidence_loss",
    "evidence_task", "fptt_saved_bytes", "rule_gradients", "saved_bytes", "train_online",
]
