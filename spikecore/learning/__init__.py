"""Online learning rules for recurrent networks, one interface (:mod:`.base`).

Gradient-based online rules of Marschall, Cho & Savin (2020): exact RTRL, UORO,
KF-RTRL, RFLO and e-prop, and ModProp (Liu et al. 2022) (:mod:`.rules`), for the rate
RNN of that paper and a recurrent LIF network under the contract with a surrogate
gradient, built from or exported to a spikecore graph (:mod:`.networks`), checked
against BPTT (:func:`bptt_gradients`) on the paper's add task (:mod:`.tasks`,
:mod:`.alignment`).
"""

from __future__ import annotations

from .alignment import alignment_after_training, alignment_at_init, train_online
from .base import (
    GradientDifference,
    OnlineRule,
    assert_gradients_close,
    bptt_gradients,
    compare_gradients,
    cosine,
    rule_gradients,
)
from .networks import LIFRNN, OnlineRNN, RateRNN
from .rules import KFRTRL, RFLO, RTRL, RULES, UORO, EProp, ModProp
from .tasks import add_task

__all__ = [
    "EProp", "GradientDifference", "KFRTRL", "LIFRNN", "ModProp", "OnlineRNN", "OnlineRule", "RFLO",
    "RTRL", "RULES", "RateRNN", "UORO", "add_task", "alignment_after_training",
    "alignment_at_init", "assert_gradients_close",
    "bptt_gradients", "compare_gradients", "cosine", "rule_gradients", "train_online",
]
