"""Model zoo: functions that return seeded, parametrised spikecore graphs."""

from .basic import ei_network, feedforward_lif, poisson_input, recurrent_lif

__all__ = ["ei_network", "feedforward_lif", "poisson_input", "recurrent_lif"]
