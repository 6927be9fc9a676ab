"""Deterministic arm assignment: the same (campaign, customer) always draws the same arm.

Hashing instead of a stored random draw lets any process (API, simulator, analysis) agree on the
arm without a lookup, and keeps assignments independent across campaigns.
"""

import hashlib
from collections.abc import Sequence

import numpy as np


def unit_hash(campaign_id: int, customer_id: int) -> float:
    """A uniform number in [0, 1) from SHA-256 of the pair."""
    digest = hashlib.sha256(f"{campaign_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def unit_hashes(campaign_id: int, customer_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.fromiter(
        (unit_hash(campaign_id, int(c)) for c in customer_ids),
        dtype=np.float64,
        count=len(customer_ids),
    )


def pick_arm(
    u: float | np.ndarray, weights: Sequence[float], holdout_fraction: float
) -> np.ndarray:
    """Index of the arm for each draw `u`, or -1 for the holdout.

    The first `holdout_fraction` of [0, 1) is the holdout; the rest is split by the arm weights.
    """
    if not 0 <= holdout_fraction < 1:
        raise ValueError("holdout_fraction must be in [0, 1)")
    w = np.asarray(weights, dtype=np.float64)
    if w.size == 0 or (w <= 0).any():
        raise ValueError("arms need positive weights")
    u = np.atleast_1d(np.asarray(u, dtype=np.float64))
    edges = holdout_fraction + (1 - holdout_fraction) * np.cumsum(w) / w.sum()
    arm = np.searchsorted(edges, u, side="right")
    arm = np.minimum(arm, w.size - 1)
    return np.where(u < holdout_fraction, -1, arm)
