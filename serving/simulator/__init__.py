"""A synthetic world for Lodestar: CRM, campaigns, orders, behaviour, and its hidden truth.

`run_simulation` fills the core DB, writes the behaviour event log as Parquet and keeps the
ground truth (hidden traits, true probabilities and treatment effects) in separate Parquet
files, so every model can be scored against the best possible answer. See `ground_truth` for
the oracle's columns and `world` for what the world is made of.
"""

from serving.simulator.run import CHUNK_SIZE, SimulationError, SimulationSummary, run_simulation

__all__ = ["CHUNK_SIZE", "SimulationError", "SimulationSummary", "run_simulation"]
