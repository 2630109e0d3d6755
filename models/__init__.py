"""Model zoo: functions that return seeded, parametrised spikecore graphs and matrices."""

from .basic import ei_network, feedforward_lif, poisson_input, recurrent_lif
from .connectivity import (
    Brunel2000Params,
    Connectivity,
    DaleParams,
    HopfieldParams,
    IzhikevichParams,
    LowRankParams,
    MotifParams,
    RandomModeParams,
    SCSParams,
    brunel2000_connectivity,
    dale_matrix,
    ei_motif_matrix,
    hopfield_network,
    hopfield_weights,
    izhikevich_connectivity,
    lif_population,
    low_rank_matrix,
    motif_adjacency,
    random_mode_matrix,
    scs_matrix,
    white_noise_current,
)
from .ltc import ltc_snn
from .networks import (
    brunel2000,
    brunel2000_external_streams,
    lif_population_noise,
    low_rank_rate_network,
    lsnn,
    rajan_abbott_rate_network,
    random_mode_rate_network,
    rate_network,
    scs_rate_network,
)
from .networks_more import cond_lif_poisson, izhikevich_network, morris_lecar_network

__all__ = [
    "Brunel2000Params", "Connectivity", "DaleParams", "HopfieldParams", "IzhikevichParams",
    "LowRankParams", "MotifParams", "RandomModeParams", "SCSParams", "brunel2000_connectivity",
    "dale_matrix", "ei_motif_matrix", "ei_network", "feedforward_lif", "hopfield_network",
    "hopfield_weights", "izhikevich_connectivity", "lif_population", "low_rank_matrix",
    "motif_adjacency", "poisson_input", "random_mode_matrix", "recurrent_lif", "scs_matrix",
    "white_noise_current",
    # graph builders with extension primitives (models.networks)
    "brunel2000", "brunel2000_external_streams", "lif_population_noise", "low_rank_rate_network",
    "lsnn", "rajan_abbott_rate_network", "random_mode_rate_network", "rate_network",
    "scs_rate_network",
    # graph builders with Izhikevich, Morris-Lecar and CondLIF neurons (models.networks_more)
    "cond_lif_poisson", "izhikevich_network", "morris_lecar_network",
    # liquid time-constant spiking network, Yin et al. 2023 (models.ltc)
    "ltc_snn",
]
