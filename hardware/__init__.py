"""Neuromorphic hardware targets: constraints, quantisation, fit checks and cost."""
