"""Synthetic monthly deliveries with a record of the simulated persons (for demo and tests)."""
