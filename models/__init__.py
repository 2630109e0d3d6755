"""Model zoo: functions that return seeded, parametrised spikecore graphs."""
