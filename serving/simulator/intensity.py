"""The purchase process: seasonal Poisson intensity while alive, and its exact probabilities.

One object answers both "when do orders happen" (for the simulation) and "what was the chance
of an order" (for the ground truth), so the oracle is exactly the process that made the data.
"""

import numpy as np

from serving.simulator.timebase import DAY, Window
from serving.simulator.world import order_day_factor

_HORIZON_DAYS = 120  # how far past the window end intensities are tabulated


class PurchaseIntensity:
    """Cumulative seasonal intensity per day, one curve for business and one for consumers."""

    def __init__(self, window: Window) -> None:
        days = np.arange(-1, window.days + _HORIZON_DAYS + 1)
        dates = np.datetime64(window.start.date()) + days.astype("timedelta64[D]")
        dow = (dates.astype("datetime64[D]").view(np.int64) + 3) % 7  # 1970-01-01: Thursday
        doy = (dates - dates.astype("datetime64[Y]")).astype(np.int64) + 1
        self._knots = np.append(days, days[-1] + 1).astype(np.float64)
        self._cum = np.stack(
            [
                np.concatenate([[0.0], np.cumsum(order_day_factor(dow, doy, flag))])
                for flag in (False, True)
            ]
        )

    def cum(self, t: np.ndarray, business: np.ndarray) -> np.ndarray:
        """Integral of the seasonal factor from the first knot to window time `t` (in days)."""
        x = np.asarray(t) / DAY
        return np.where(
            business,
            np.interp(x, self._knots, self._cum[1]),
            np.interp(x, self._knots, self._cum[0]),
        )

    def inverse(self, y: np.ndarray, business: np.ndarray) -> np.ndarray:
        """Window time (seconds) at which the cumulative factor reaches `y`."""
        return DAY * np.where(
            business,
            np.interp(y, self._cum[1], self._knots),
            np.interp(y, self._cum[0], self._knots),
        )

    def p_no_order(
        self,
        t0: np.ndarray,
        rate: np.ndarray,
        hazard: np.ndarray,
        horizon_days: int,
        business: np.ndarray,
    ) -> np.ndarray:
        """P(no order in [t0, t0 + horizon]) for customers alive at t0.

        Integrates over the unknown churn time (exponential with `hazard` per day, memoryless, so
        "alive at t0" is all the state needed) on a daily grid: a customer who churns on day k
        can only have ordered in the k days before.
        """
        t0 = np.asarray(t0, dtype=np.float64)
        k = np.arange(horizon_days + 1, dtype=np.float64)
        times = t0[:, None] + k[None, :] * DAY
        b = np.broadcast_to(np.asarray(business)[:, None], times.shape)
        lam = rate[:, None] * (self.cum(times, b) - self.cum(t0, business)[:, None])
        surv = np.exp(-hazard[:, None] * k[None, :])
        die_in_day = surv[:, :-1] - surv[:, 1:]
        mid = np.exp(-0.5 * (lam[:, :-1] + lam[:, 1:]))
        return (die_in_day * mid).sum(axis=1) + surv[:, -1] * np.exp(-lam[:, -1])

    def p_alive_after_silence(
        self,
        s0: np.ndarray,
        t: np.ndarray,
        rate: np.ndarray,
        hazard: np.ndarray,
        business: np.ndarray,
        alive_at_s0: np.ndarray,
        steps: int = 96,
    ) -> np.ndarray:
        """P(alive at t | alive at s0 with prior `alive_at_s0`, and no order in (s0, t]).

        What an observer who knew a customer's rates, but not whether they had churned, would
        believe after a silence: the ceiling for any model that sees only the order history.
        Death times are integrated on a grid of `steps` equal parts of each silence.
        """
        s0, t = np.asarray(s0, dtype=np.float64), np.asarray(t, dtype=np.float64)
        frac = np.linspace(0.0, 1.0, steps + 1)
        times = s0[:, None] + (t - s0)[:, None] * frac[None, :]
        b = np.broadcast_to(np.asarray(business)[:, None], times.shape)
        lam = rate[:, None] * (self.cum(times, b) - self.cum(s0, business)[:, None])
        surv = np.exp(-hazard[:, None] * (times - s0[:, None]) / DAY)
        alive_silent = surv[:, -1] * np.exp(-lam[:, -1])
        died_silent = (
            (surv[:, :-1] - surv[:, 1:]) * np.exp(-0.5 * (lam[:, :-1] + lam[:, 1:]))
        ).sum(axis=1)
        num = alive_at_s0 * alive_silent
        return num / (alive_at_s0 * (alive_silent + died_silent) + (1.0 - alive_at_s0))
