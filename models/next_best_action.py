"""Next-best-action: which offer (or none) to make a customer, and why the others were not made.

Three pure steps, each usable on its own:

1. `OfferUpliftModel` learns, from past randomised exposures, P(response | x, offer) and
   P(response | x, no offer); their difference is the uplift an offer causes.
2. `expected_values` turns uplift into money: an offer is worth its uplift times its value,
   minus what its redemptions cost (see there for why cost is charged per response).
3. `arbitrate` applies the contact policies (consent, frequency cap, cooldown, budget,
   eligibility, a value threshold) to one customer's expected values and ranks what is left;
   `choose` then picks greedily or explores, and returns the propensity of its pick so the
   choices can be evaluated off-line (models/off_policy.py).

No I/O here: training/nba.py reads exposures and features, serving reads online features.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from models.list_columns import expand_lists, list_tokens
from models.scoring import ScoreModel, as_frame

# --- uplift -----------------------------------------------------------------------------------


def _has_offer(offer: Any) -> np.ndarray:
    """True where an offer was made: None, NaN and the pandas NA mean "no offer"."""
    return pd.notna(pd.Series(offer, dtype=object)).to_numpy()


class OfferUpliftModel(BaseEstimator):
    """P(response | x, no offer) and, per offer, the uplift it causes, from randomised exposures.

    A doubly robust learner per offer (Kennedy's DR-learner, with the control model as the only
    nuisance). A calibrated LightGBM response model (models/scoring.py) learns P(response | x)
    on the rows without an offer, cross-fitted so no row is scored by a model that saw it. Each
    row of an offer, and each no-offer row of a stratum (a campaign) where that offer was
    randomised, gets the pseudo-outcome

        ψ = T (y − μ̂₀) / e − (1 − T) (y − μ̂₀) / (1 − e),

    where e is the share of offer rows among the two in the stratum. Its mean given x is the
    uplift whatever μ̂₀'s errors, because e is known by design; μ̂₀ only takes out the variance
    that the response level would add. A small, strongly regularised regressor on ψ (a
    committee over k folds, each stopped early on its own fold) gives the uplift.

    Measured on the simulator's ground truth (share of the oracle's value on later campaigns,
    two worlds): the plain T-learner (a response model per arm, subtracted) reached 0.18 and
    0.36 where this learner reached 0.45 and 0.45; with a few thousand rows per offer the
    difference of two noisy probability models is mostly noise. The S-learner (the offer as a
    feature) did no better, as trees rarely split on a small effect; the X-learner came close
    (0.42, 0.39). Adding each offer's own response model to ψ (the full DR form) changed
    nothing measurable and doubled the fitting time.

    X may hold numbers, text (categorical) and lists of strings (tags: one 0/1 column per
    frequent value); missing values are fine. `predict_treated` is P(response | x, offer),
    clipped to [0, 1]. With `n_bootstrap` > 0 the uplift regressors are refitted on bootstrap
    samples too, and `uplift_sd` is their spread: the uncertainty Thompson sampling draws from.
    Offers with fewer than `min_rows` rows (or no randomised control beside them) are left out
    and listed in `skipped_`.
    """

    def __init__(
        self,
        *,
        folds: int = 2,
        num_leaves: int = 3,
        min_child_samples: int = 800,
        learning_rate: float = 0.02,
        reg_lambda: float = 5.0,
        n_estimators: int = 3000,
        early_stopping_rounds: int = 200,
        min_rows: int = 200,
        propensity_clip: float = 0.02,
        n_bootstrap: int = 0,
        committee: int = 4,
        random_state: int = 0,
        n_jobs: int = 2,
    ) -> None:
        self.folds = folds
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.learning_rate = learning_rate
        self.reg_lambda = reg_lambda
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.min_rows = min_rows
        self.propensity_clip = propensity_clip
        self.n_bootstrap = n_bootstrap
        self.committee = committee
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- columns ------------------------------------------------------------------------------
    def _learn_lists(self, X: pd.DataFrame) -> None:
        self.list_tokens_ = list_tokens(X)

    def _expand(self, X: Any) -> pd.DataFrame:
        """Lists of strings become one 0/1 column per token seen in fit (NaN when missing)."""
        return expand_lists(as_frame(X), self.list_tokens_)

    def _response_model(self, seed: int) -> ScoreModel:
        return ScoreModel(random_state=seed, n_jobs=self.n_jobs)

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, X: Any, offer: Any, y: Any, *, strata: Any = None) -> "OfferUpliftModel":
        """`offer`: the offer each row got (None/NaN = no offer: control or holdout); `y`: 0/1
        response; `strata`: rows randomised alike (campaign ids), None = all rows alike."""
        X = as_frame(X)
        y = np.asarray(y).astype(int)
        given = _has_offer(offer)
        offer_arr = np.asarray(pd.Series(offer, dtype=object).where(given, None))
        strata_arr = np.zeros(len(X), dtype=int) if strata is None else np.asarray(strata)
        if not len(y) == len(X) == len(offer_arr) == len(strata_arr):
            raise ValueError("X, offer, y and strata must have the same number of rows")
        if (~given).sum() < self.min_rows:
            raise ValueError(f"need at least {self.min_rows} rows without an offer (controls)")
        self._learn_lists(X)
        Xe = self._expand(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        rng = np.random.default_rng(self.random_state)
        fold = rng.integers(0, self.folds, len(X))
        self.control_ = self._response_model(self.random_state).fit(Xe[~given], y[~given])
        Xp = self.control_._prepare(Xe)  # the same column handling as the response models
        mu0 = self._cross_fit(Xe, y, ~given, fold)
        offers = sorted({o for o in offer_arr[given]}, key=lambda o: (str(type(o)), o))
        self.offers_: list[Any] = []
        self.uplift_models_: dict[Any, list[Any]] = {}
        self.skipped_: dict[Any, str] = {}
        for o in offers:
            is_o = given & (offer_arr == o)
            if is_o.sum() < self.min_rows:
                self.skipped_[o] = f"{int(is_o.sum())} rows (< {self.min_rows})"
                continue
            rows, e = self._pairs(is_o, ~given, strata_arr)
            if rows.sum() < self.min_rows:
                self.skipped_[o] = "no randomised control rows beside it"
                continue
            t = is_o[rows].astype(float)
            residual = y[rows] - mu0[rows]
            psi = t * residual / e - (1 - t) * residual / (1 - e)
            self.uplift_models_[o] = self._regressors(Xp[rows], psi, rng)
            self.offers_.append(o)
        if not self.offers_:
            raise ValueError(f"no offer had enough rows to learn its uplift: {self.skipped_}")
        return self

    def _cross_fit(self, Xe: pd.DataFrame, y: np.ndarray, rows: np.ndarray, fold: np.ndarray):
        """Out-of-fold P(y | x) of a model fitted on `rows`, for every row."""
        out = np.empty(len(y))
        for k in range(self.folds):
            fit_rows = rows & (fold != k)
            model = self._response_model(self.random_state + k).fit(Xe[fit_rows], y[fit_rows])
            out[fold == k] = model.predict_proba(Xe[fold == k])[:, 1]
        return out

    def _pairs(
        self, treated: np.ndarray, control: np.ndarray, strata: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Offer and control rows of the strata where both occur, and P(offer | stratum, one
        of the two) for each."""
        frame = pd.DataFrame({"s": strata, "t": treated, "c": control})
        counts = frame.groupby("s")[["t", "c"]].sum()
        both = counts.index[(counts["t"] > 0) & (counts["c"] > 0)]
        rows = (treated | control) & np.isin(strata, both)
        share = (counts["t"] / (counts["t"] + counts["c"])).reindex(strata[rows]).to_numpy()
        return rows, np.clip(share, self.propensity_clip, 1 - self.propensity_clip)

    def _regressors(self, Xp: pd.DataFrame, psi: np.ndarray, rng: np.random.Generator):
        params = {
            "objective": "l2",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "reg_lambda": self.reg_lambda,
            "colsample_bytree": 0.8,
            "subsample": 0.8,
            "subsample_freq": 1,
            "deterministic": True,
            "num_threads": self.n_jobs,
            "verbosity": -1,
        }
        n = len(psi)
        cats = [c for c in Xp.columns if isinstance(Xp[c].dtype, pd.CategoricalDtype)]

        def fit(fit_rows: np.ndarray, stop_rows: np.ndarray, seed: int) -> tuple[Any, int]:
            train = lgb.Dataset(
                Xp.iloc[fit_rows], psi[fit_rows], categorical_feature=cats or "auto"
            )
            valid = lgb.Dataset(Xp.iloc[stop_rows], psi[stop_rows], reference=train)
            booster = lgb.train(
                {**params, "seed": seed},
                train,
                num_boost_round=self.n_estimators,
                valid_sets=[valid],
                callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
            )
            return booster, booster.best_iteration or booster.current_iteration()

        # The point estimate: a committee over k folds (each stops early on its own fold), as
        # one stopping point on such noisy targets is itself noisy.
        split = rng.permutation(n) % self.committee
        members = [
            fit(np.flatnonzero(split != k), np.flatnonzero(split == k), self.random_state + k)
            for k in range(self.committee)
        ]
        models = [members]
        for b in range(self.n_bootstrap):  # bootstrap fits, stopped on the rows each left out
            fit_rows = rng.integers(0, n, n)
            stop_rows = np.setdiff1d(np.arange(n), fit_rows)
            models.append([fit(fit_rows, stop_rows, self.random_state + 100 + b)])
        return models

    # -- predict ------------------------------------------------------------------------------
    def _prepared(self, X: Any) -> np.ndarray:
        """The float matrix the regressors were fitted on (categories as the fitted codes):
        the same values as the frame `fit` built, without building one column at a time."""
        check_is_fitted(self, "control_")
        return self.control_._matrix(self._expand(X))

    def predict_control(self, X: Any) -> np.ndarray:
        """P(response | x, no offer)."""
        check_is_fitted(self, "control_")
        return self.control_.predict_proba(self._expand(X))[:, 1]

    def _average(self, offer: Any, draw: int, Xp: np.ndarray) -> np.ndarray:
        members = self.uplift_models_[offer][draw]
        return np.mean([m.predict(Xp, num_iteration=it) for m, it in members], axis=0)

    def uplift_draws(self, X: Any) -> np.ndarray:
        """(1 + n_bootstrap, n, offers): the point estimate first, then each bootstrap fit."""
        Xp = self._prepared(X)
        return np.stack(
            [
                np.column_stack([self._average(o, b, Xp) for o in self.offers_])
                for b in range(1 + self.n_bootstrap)
            ]
        )

    def uplift(self, X: Any) -> pd.DataFrame:
        """P(response | x, offer) − P(response | x, no offer), one column per offer."""
        Xp = self._prepared(X)
        cols = {o: self._average(o, 0, Xp) for o in self.offers_}
        return pd.DataFrame(cols, index=as_frame(X).index, columns=self.offers_)

    def uplift_sd(self, X: Any) -> pd.DataFrame:
        """The bootstrap spread of the uplift (zeros without `n_bootstrap`)."""
        draws = self.uplift_draws(X)
        sd = draws[1:].std(axis=0, ddof=1) if len(draws) > 2 else np.zeros(draws.shape[1:])
        index = as_frame(X).index
        return pd.DataFrame(sd, index=index, columns=self.offers_)

    def predict(self, X: Any) -> np.ndarray:
        """The uplift as an (n, offers) array, columns in `offers_` order (for MLflow's pyfunc)."""
        return self.uplift(X).to_numpy()

    def predict_treated(self, X: Any) -> pd.DataFrame:
        """P(response | x, offer): the control probability plus the uplift, kept in [0, 1]."""
        up = self.uplift(X)
        p0 = self.predict_control(X)
        return up.add(p0, axis=0).clip(0.0, 1.0)


# --- expected value ---------------------------------------------------------------------------


def expected_values(
    uplift: pd.DataFrame, p_treated: pd.DataFrame, offers: pd.DataFrame
) -> pd.DataFrame:
    """EV per row and offer: `uplift × value − p_treated × cost`.

    `value` is what one *incremental* response is worth to us, so it multiplies the uplift only;
    `cost` is paid per redemption (the discount, the shipping we cover), and every customer who
    responds with the offer in hand may redeem it, including those who would have bought anyway.
    So cost is charged per response, not per send and not per incremental response: taking
    P(redemption) = P(response | offer) is the cautious upper bound (some buyers forget their
    coupon), and it is what makes a discount to a loyal customer cost money. A send itself is
    taken as free; a per-send cost would just raise `min_expected_value`.

    `offers` is indexed by offer id (the columns of `uplift`) with `value` and `cost` columns.
    """
    missing = [o for o in uplift.columns if o not in offers.index]
    if missing:
        raise ValueError(f"no value/cost for offers {missing}")
    if not uplift.columns.equals(p_treated.columns):
        raise ValueError("uplift and p_treated must have the same offer columns")
    value = offers.loc[uplift.columns, "value"].to_numpy(dtype=float)
    cost = offers.loc[uplift.columns, "cost"].to_numpy(dtype=float)
    ev = uplift.to_numpy(dtype=float) * value - p_treated.to_numpy(dtype=float) * cost
    return pd.DataFrame(ev, index=uplift.index, columns=uplift.columns)


# --- arbitration ------------------------------------------------------------------------------

# Channels that send a message (and so need consent and count toward the frequency cap); an
# on-site ("web") offer interrupts no one.
MESSAGE_CHANNELS = frozenset({"email", "sms", "push"})


@dataclass(frozen=True)
class OfferInfo:
    """What arbitration needs to know about one offer, for one customer, right now."""

    id: int
    name: str
    channel: str  # "email" | "sms" | "push" | "web"
    value: float
    cost: float
    is_active: bool = True
    budget_left: float | None = None  # money left to pay redemptions; None = unlimited
    eligible: bool = True  # the offer's own rules (segment, validity, per-customer limit)
    ineligible_reason: str | None = None  # shown after "not eligible: "


@dataclass(frozen=True)
class ContactContext:
    """One customer's contact state: what they agreed to and what they recently got."""

    consents: Mapping[str, bool]  # per message channel; a missing channel means no consent
    sends: Sequence[datetime] = ()  # messages already sent to them, any channel
    last_redemption: datetime | None = None


@dataclass(frozen=True)
class ContactPolicy:
    """The house rules. Defaults: at most 2 messages in any 7 days, nothing for 14 days after a
    redemption, and only offers worth more than nothing."""

    max_messages: int = 2
    window_days: float = 7.0
    cooldown_days: float = 14.0
    min_expected_value: float = 0.0


@dataclass(frozen=True)
class Action:
    offer_id: int
    expected_value: float
    channel: str
    ev_sd: float = 0.0  # uncertainty of the expected value (Thompson sampling draws from it)


@dataclass(frozen=True)
class Removed:
    offer_id: int
    policy: str  # a stable code: inactive, eligibility, budget, consent, frequency_cap, …
    reason: str  # the same, in words, with the numbers that decided it


@dataclass(frozen=True)
class Decision:
    """Ranked allowed actions (best first), every removed offer with the policy that removed it,
    and, when nothing is left, why the answer is "no action"."""

    actions: tuple[Action, ...]
    removed: tuple[Removed, ...]
    # Offers that passed every hard rule (consent, caps, cooldown, budget, eligibility) but not
    # the value threshold: exploration may still try them, a greedy choice never does.
    below_threshold: tuple[Action, ...] = ()
    no_action_reason: str | None = None

    @property
    def chosen(self) -> Action | None:
        return self.actions[0] if self.actions else None

    def removed_by(self, offer_id: int) -> Removed | None:
        return next((r for r in self.removed if r.offer_id == offer_id), None)


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86_400


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _fmt_days(days: float) -> str:
    return _plural(int(days), "day") if days == int(days) else f"{days:g} days"


def _hard_rule(
    offer: OfferInfo, context: ContactContext, now: datetime, policy: ContactPolicy
) -> tuple[str, str] | None:
    """The first hard rule that forbids the offer, as (policy code, reason), or None."""
    if not offer.is_active:
        return "inactive", "inactive"
    if not offer.eligible:
        why = f": {offer.ineligible_reason}" if offer.ineligible_reason else ""
        return "eligibility", f"not eligible{why}"
    if offer.budget_left is not None and (offer.budget_left <= 0 or offer.budget_left < offer.cost):
        return "budget", f"budget exhausted: {offer.budget_left:.2f} left, a redemption costs " + (
            f"{offer.cost:.2f}"
        )
    if offer.channel in MESSAGE_CHANNELS:
        if not context.consents.get(offer.channel, False):
            return "consent", f"no consent for {offer.channel}"
        start = now - timedelta(days=policy.window_days)
        recent = sum(1 for t in context.sends if start < t <= now)
        if recent >= policy.max_messages:
            return "frequency_cap", (
                f"frequency cap: {_plural(recent, 'message')} in the last "
                f"{_fmt_days(policy.window_days)} (at most {policy.max_messages})"
            )
    if context.last_redemption is not None:
        since = _days(now - context.last_redemption)
        if 0 <= since < policy.cooldown_days:
            ago = "today" if since < 1 else f"{_fmt_days(math.floor(since))} ago"
            return "cooldown", (
                f"cooldown: redeemed {ago} (no offers for {_fmt_days(policy.cooldown_days)})"
            )
    return None


def arbitrate(
    ev_row: Mapping[int, float],
    offers: Sequence[OfferInfo],
    context: ContactContext,
    *,
    now: datetime,
    policy: ContactPolicy = ContactPolicy(),  # noqa: B008 - frozen, so a shared default is safe
    ev_sd: Mapping[int, float] | None = None,
) -> Decision:
    """Apply the contact policies to one customer's expected values and rank what is left.

    Every offer in `offers` ends up either ranked (expected value above the threshold, best
    first, ties by offer id) or removed with the first policy that stopped it, checked in this
    order: inactive, not eligible, budget, consent, frequency cap, cooldown, no score, value
    threshold. A frequency-cap window is (now − window_days, now]: a message sent exactly
    window_days ago no longer counts. A cooldown ends exactly cooldown_days after the
    redemption. `ev_sd` (per offer) is carried to the actions for Thompson sampling.
    """
    sd = ev_sd or {}
    ranked: list[Action] = []
    below: list[Action] = []
    removed: list[Removed] = []
    for offer in offers:
        rule = _hard_rule(offer, context, now, policy)
        if rule is not None:
            removed.append(Removed(offer.id, *rule))
            continue
        ev = ev_row.get(offer.id)
        if ev is None or not math.isfinite(ev):
            removed.append(Removed(offer.id, "no_score", "no expected value for this offer"))
            continue
        action = Action(offer.id, float(ev), offer.channel, float(sd.get(offer.id, 0.0)))
        if ev > policy.min_expected_value:
            ranked.append(action)
        else:
            below.append(action)
            removed.append(
                Removed(
                    offer.id,
                    "min_expected_value",
                    f"expected value below threshold: {ev:.2f} ≤ {policy.min_expected_value:.2f}",
                )
            )
    order = lambda a: (-a.expected_value, a.offer_id)  # noqa: E731
    ranked.sort(key=order)
    below.sort(key=order)
    reason = None if ranked else _no_action_reason(offers, removed)
    return Decision(tuple(ranked), tuple(removed), tuple(below), reason)


def _no_action_reason(offers: Sequence[OfferInfo], removed: Sequence[Removed]) -> str:
    if not offers:
        return "no offers to consider"
    counts: dict[str, int] = {}
    for r in removed:
        counts[r.reason.split(":")[0]] = counts.get(r.reason.split(":")[0], 0) + 1
    parts = [f"{n} {why}" for why, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return "nothing worth doing: " + ", ".join(parts)


# --- choosing, with exploration -------------------------------------------------------------

Mode = Literal["greedy", "epsilon", "thompson"]


def action_probabilities(
    decision: Decision,
    *,
    mode: Mode = "greedy",
    epsilon: float = 0.1,
    rng: np.random.Generator | None = None,
    draws: int = 4_000,
    threshold: float = 0.0,
) -> dict[int | None, float]:
    """The probability of each possible pick (offer id, or None for no action); they sum to 1.

    greedy: the best allowed action, or no action.
    epsilon: that greedy pick with probability 1 − ε, otherwise one of the explorable picks
      uniformly: every offer that passed the hard rules (those below the value threshold too,
      so the logs keep testing the model's "not worth it") and no action. With k explorable
      offers, the greedy pick has 1 − ε + ε/(k + 1) and every other pick ε/(k + 1).
    thompson: each explorable offer's value is drawn from N(expected value, ev_sd) and the
      best draw wins if it beats `threshold` (else no action); the probabilities are the
      shares of `draws` Monte-Carlo rounds each pick won, and the pick is then drawn from
      exactly those shares, so the logged propensity is the true one. With every ev_sd 0 it
      is greedy.
    """
    explorable = [*decision.actions, *decision.below_threshold]
    greedy: int | None = decision.chosen.offer_id if decision.chosen else None
    if mode == "greedy" or not explorable:
        return {greedy: 1.0}
    if mode == "epsilon":
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        picks: list[int | None] = [a.offer_id for a in explorable] + [None]
        share = epsilon / len(picks)
        probs = dict.fromkeys(picks, share)
        probs[greedy] += 1.0 - epsilon
        return probs
    if mode == "thompson":
        rng = rng if rng is not None else np.random.default_rng()
        mean = np.array([a.expected_value for a in explorable])
        sd = np.array([a.ev_sd for a in explorable])
        sample = mean + sd * rng.standard_normal((draws, len(explorable)))
        best = sample.argmax(axis=1)
        wins = np.where(sample.max(axis=1) > threshold, best, len(explorable))
        counts = np.bincount(wins, minlength=len(explorable) + 1) / draws
        ids: list[int | None] = [a.offer_id for a in explorable] + [None]
        return {i: float(p) for i, p in zip(ids, counts, strict=True) if p > 0}
    raise ValueError(f"unknown mode {mode!r}; choose greedy, epsilon or thompson")


def choose(
    decision: Decision,
    *,
    mode: Mode = "greedy",
    epsilon: float = 0.1,
    rng: np.random.Generator | None = None,
    draws: int = 4_000,
    threshold: float = 0.0,
) -> tuple[Action | None, float]:
    """Pick an action (None = no action) and return it with its propensity, for the log."""
    rng = rng if rng is not None else np.random.default_rng()
    probs = action_probabilities(
        decision, mode=mode, epsilon=epsilon, rng=rng, draws=draws, threshold=threshold
    )
    picks = list(probs)
    p = np.array([probs[k] for k in picks])
    pick = picks[int(rng.choice(len(picks), p=p / p.sum()))] if len(picks) > 1 else picks[0]
    by_id: dict[int | None, Action | None] = {
        a.offer_id: a for a in (*decision.actions, *decision.below_threshold)
    }
    return by_id.get(pick), float(probs[pick])
