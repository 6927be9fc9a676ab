"""Heterogeneous treatment effects: how much an offer changes P(order within 14 days).

The effect depends on things a model can see or infer (segment, company size, how often the
customer buys, how price-sensitive their baskets and tags suggest they are), times a hidden
individual responsiveness. Frequent loyal buyers are "sleeping dogs": a discount nudges them to
wait for the next one, so the effect is negative for them.
"""

import numpy as np

from serving.simulator.customers import Customers
from serving.simulator.world import CONSUMER, OFFERS


def treatment_effect(offer: int, c: Customers, idx: np.ndarray) -> np.ndarray:
    """Additive effect of offer `offer` on P(order in 14 days) for customers `idx`."""
    lam90 = c.purchase_rate[idx] * 90  # expected orders per quarter
    rare = np.exp(-lam90 / 1.5)  # ~1 for rare buyers, small for frequent ones
    loyal = 1.0 / (1.0 + np.exp(-(lam90 - 3.0) / 0.6))
    ps = c.price_sensitivity[idx]
    seg = c.segment[idx]
    key = OFFERS[offer].key
    if key == "pct10":
        tau = 0.16 * ps * rare - 0.09 * loyal
    elif key == "free_shipping":
        tau = np.where(seg == CONSUMER, 0.11, 0.03) * (0.4 + ps) * rare - 0.05 * loyal
    elif key == "premium_trial":
        size = np.log10(np.nan_to_num(c.company_size[idx], nan=1.0))
        fit = np.exp(-0.5 * ((size - 2.0) / 0.6) ** 2)
        tau = np.select([seg == CONSUMER, seg == 3], [-0.02, 0.02], 0.14 * fit) - 0.04 * loyal
    elif key == "bundle":
        tau = 0.13 * np.exp(-0.5 * ((lam90 - 1.5) / 0.8) ** 2) * (1.0 - 0.5 * ps) - 0.06 * loyal
    else:  # pragma: no cover - OFFERS and this function change together
        raise ValueError(f"no effect model for offer {key!r}")
    return tau * c.responsiveness[idx, offer]
