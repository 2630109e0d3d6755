"""Intel Loihi 2, in one place: the chip's constants, quantisation, fit check and cost
(:mod:`.target`), and the differentiable torch emulation of its fixed-point arithmetic,
bit-exact with Lava's bit-accurate models (:mod:`.emulation`, imported on use: it needs
torch). The Lava reference run lives with the other sidecar scripts
(``spikecore/backends/lava/scripts/loihi2_reference_worker.py``).
"""

from .target import (
    LOIHI2,
    TARGETS,
    FixedConnection,
    FixedNeuron,
    HardwareTarget,
    Loihi2Network,
    OperationsEstimate,
    ParamError,
    QuantReport,
    ResourceEstimate,
    check,
    clip_truncate,
    estimate_operations,
    estimate_resources,
    main_check,
    quantize,
    report_fit,
    sign_mode_of,
)

__all__ = [
    "LOIHI2", "TARGETS", "HardwareTarget", "FixedNeuron", "FixedConnection", "Loihi2Network",
    "ParamError", "QuantReport", "ResourceEstimate", "OperationsEstimate", "check", "quantize",
    "estimate_resources", "estimate_operations", "main_check", "clip_truncate", "report_fit",
    "sign_mode_of",
]
