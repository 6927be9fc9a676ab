"""Next-best-action training and evaluation: past promotion exposures → uplift model → policy.

The promotions are randomised experiments (arms drawn by hash, a holdout), so every exposure is
a logged decision with a known probability: the training rows for the uplift model, and the
logs off-policy evaluation replays. One row per promotion exposure: the customer's features at
the send (point-in-time from Feast), the offer of the arm drawn (none for the control arm and
the holdout: neither gets an offer), and whether they ordered within 14 days of the send.

Split by send date as training/train.py does, with the holdout period moved back until it tries
every offer (see `split_periods`). The model is fitted on everything before it: its early
stopping uses random folds inside, because a per-offer model needs rows of its offer and not
every offer is tried in a validation period (campaigns rotate). The holdout is judged twice:

- against the simulator's ground truth, when there is one: the true expected value of our
  choice, of the oracle's (the truly best arm or none), of the best single offer for everyone
  (chosen on the training period), of a random arm, and of the "ceiling": the choice of
  boosters fitted on the true probabilities of the training rows, from the same features (see
  `ceiling_values`; on the default world it reaches about 0.72 of the oracle, so a learner
  from outcomes cannot reach 0.9 of it);
- off-policy, from the logged outcomes alone (models/off_policy.py), as it would be on real
  data. The reward is the incremental value, so control rows pay for the sales an offer would
  have got anyway; see `off_policy_values`.
"""

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.vectors import column_of
from models import off_policy
from models.features import FEATURES
from models.next_best_action import (
    ContactContext,
    ContactPolicy,
    Mode,
    OfferInfo,
    OfferUpliftModel,
    action_probabilities,
    arbitrate,
    expected_values,
)
from serving.config import Settings
from serving.core.db import read_sql_frame

MODEL = "next_best_action"
HORIZON_DAYS = 14
PIP = ["lightgbm==4.7.0", "scikit-learn==1.9.1", "pandas==2.3.3", "numpy==2.4.6"]
NO_ACTION = 0  # action index of "no offer"; offers follow in offer-id order
N_BOOTSTRAP = 4  # bootstrap fits of the uplift, for Thompson sampling
POLICIES = ("ours", "best_single_offer", "random", "no_action")


# --- data -------------------------------------------------------------------------------------


@dataclass
class ExposureData:
    """Promotion exposures with features, the logging policy, and what the offers are worth."""

    frame: pd.DataFrame  # one row per exposure (see `load_exposures`)
    features: list[str]  # feature columns of `frame`
    offers: pd.DataFrame  # by offer id: name, channel, value, cost, is_active
    actions: pd.DataFrame  # campaign_id, action (0 or offer id), logging_propensity
    data_end: datetime


def arm_propensities(weights: list[float], holdout_fraction: float) -> np.ndarray:
    """P(holdout), then P(arm i): what `pick_arm` draws (serving/core/services/assignment.py),
    whose [0, 1) is the holdout fraction, then the rest split by weight."""
    w = np.asarray(weights, dtype=float)
    return np.concatenate([[holdout_fraction], (1 - holdout_fraction) * w / w.sum()])


def campaign_actions(arms: pd.DataFrame, campaigns: pd.DataFrame) -> pd.DataFrame:
    """Per campaign and action (0 = no offer: the control arm or the holdout), the logging
    policy's probability of it. Arms that share an offer add up."""
    rows = []
    for cid, group in arms.groupby("campaign_id"):
        h = float(campaigns.loc[cid, "holdout_fraction"])
        p = arm_propensities(group["weight"].tolist(), h)
        action = group["offer_id"].fillna(NO_ACTION).astype(int).to_numpy()
        rows.append(pd.DataFrame({"campaign_id": cid, "action": [NO_ACTION, *action], "p": p}))
    out = pd.concat(rows).groupby(["campaign_id", "action"], as_index=False)["p"].sum()
    return out.rename(columns={"p": "logging_propensity"})


def _responded(frame: pd.DataFrame, orders: pd.DataFrame, days: int) -> np.ndarray:
    """Any order in (sent_at, sent_at + days]?"""
    o = orders.sort_values("ordered_at")
    left = frame[["sent_at", "customer_id"]].reset_index().sort_values("sent_at")
    nxt = pd.merge_asof(
        left,
        o.rename(columns={"ordered_at": "next_order_at"}),
        left_on="sent_at",
        right_on="next_order_at",
        by="customer_id",
        direction="forward",
        allow_exact_matches=False,
    ).set_index("index")["next_order_at"]
    nxt = nxt.reindex(frame.index)
    return (nxt.notna() & (nxt <= frame["sent_at"] + pd.Timedelta(days=days))).to_numpy()


def load_exposures(settings: Settings) -> ExposureData:
    """Every exposure to a campaign with an offer arm, with the features at its send.

    `frame` columns: exposure_id, campaign_id, customer_id, arm_id, sent_at (the send; the
    assignment time for the holdout, who get nothing), event_timestamp (= sent_at), channel,
    action (offer id, 0 = none), offer_id (NaN = none), logging_propensity, label (ordered
    within 14 days), complete (the 14 days lie inside the data), can_email/sms/push (consents
    now: the CRM keeps no history of them), then
    the features.
    """
    from features.store import open_store
    from features.training import training_set
    from serving.core.db import make_engine
    from training.train import data_window

    engine = make_engine(settings.database_url)
    try:
        _, end = data_window(settings, engine)
        campaigns = read_sql_frame(
            engine, "SELECT id AS campaign_id, channel, holdout_fraction FROM campaigns"
        ).set_index("campaign_id")
        arms = read_sql_frame(
            engine,
            "SELECT id AS arm_id, campaign_id, offer_id, is_control, weight FROM campaign_arms"
            " WHERE campaign_id IN"
            " (SELECT campaign_id FROM campaign_arms WHERE offer_id IS NOT NULL)",
        )
        exposures = read_sql_frame(
            engine,
            "SELECT e.id AS exposure_id, e.campaign_id, e.customer_id, e.arm_id,"
            " coalesce(e.sent_at, e.assigned_at) AS sent_at FROM exposures e WHERE e.campaign_id"
            " IN (SELECT campaign_id FROM campaign_arms WHERE offer_id IS NOT NULL)",
        )
        orders = read_sql_frame(engine, "SELECT customer_id, ordered_at FROM orders")
        customers = read_sql_frame(
            engine,
            "SELECT id AS customer_id, consent_email AS can_email, consent_sms AS can_sms,"
            " consent_push AS can_push FROM customers",
        )
        offers = read_sql_frame(
            engine, "SELECT id AS offer_id, name, channel, value, cost, is_active FROM offers"
        ).set_index("offer_id")
    finally:
        engine.dispose()
    if exposures.empty:
        raise ValueError("no exposures to campaigns with an offer: nothing to learn from")
    frame = exposures.merge(arms[["arm_id", "offer_id"]], on="arm_id", how="left")
    frame["action"] = frame["offer_id"].fillna(NO_ACTION).astype(int)
    actions = campaign_actions(arms, campaigns)
    frame = frame.merge(actions, on=["campaign_id", "action"], how="left")
    frame["channel"] = campaigns["channel"].astype(str).reindex(frame["campaign_id"]).to_numpy()
    frame = frame.merge(customers, on="customer_id", how="left")
    frame = frame.sort_values(["sent_at", "customer_id"], kind="stable").reset_index(drop=True)
    frame["label"] = _responded(frame, orders, HORIZON_DAYS).astype(int)
    frame["complete"] = (frame["sent_at"] + pd.Timedelta(days=HORIZON_DAYS) <= end).to_numpy()
    frame["event_timestamp"] = frame["sent_at"]
    refs = FEATURES[MODEL]
    features = training_set(
        open_store(settings), frame[["customer_id", "event_timestamp"]], refs
    ).drop(columns=["customer_id", "event_timestamp"])
    frame = pd.concat([frame, features], axis=1)
    return ExposureData(frame, [column_of(r) for r in refs], offers, actions, end)


@dataclass
class Truth:
    """The simulator's truth per (campaign_id, customer_id) row and offer id."""

    ev: pd.DataFrame  # true expected value: uplift × value − P(response | offer) × cost
    p_control: pd.Series  # P(response) without an offer
    ite: pd.DataFrame  # P(response | offer) − P(response | no offer)


def ground_truth_values(settings: Settings, offers: pd.DataFrame) -> Truth | None:
    """True expected value of each (campaign, customer, offer): the simulator's uplift × value
    minus P(response | offer) × cost, the same formula the policy optimises. None without truth."""
    path = settings.ground_truth_dir / "treatment_effects.parquet"
    if not path.exists():
        return None
    cols = ["campaign_id", "customer_id", "offer_id", "p_control", "p_treated", "ite"]
    truth = pd.read_parquet(path, columns=cols)
    value = offers["value"].reindex(truth["offer_id"]).to_numpy(dtype=float)
    cost = offers["cost"].reindex(truth["offer_id"]).to_numpy(dtype=float)
    truth["ev"] = truth["ite"].to_numpy() * value - truth["p_treated"].to_numpy() * cost
    keys = ["campaign_id", "customer_id"]

    def pivot(col: str) -> pd.DataFrame:
        return truth.pivot_table(index=keys, columns="offer_id", values=col, aggfunc="mean")

    return Truth(pivot("ev"), truth.groupby(keys)["p_control"].mean(), pivot("ite"))


def ceiling_values(
    model: OfferUpliftModel,
    data: ExposureData,
    fit_rows: np.ndarray,
    holdout: pd.DataFrame,
    truth: Truth,
    offer_ids: list[int],
    seed: int = 0,
) -> np.ndarray:
    """(holdout rows, offers) expected values from boosters fitted on the *true* P(response)
    and uplifts of the training rows, from the same features: what these features could tell
    at best. A learner only sees noisy 0/1 outcomes, so it cannot beat this; what the ceiling
    misses of the oracle is what the features do not reveal (on the simulator mostly each
    customer's true purchase rate, which a few orders estimate poorly, and the hidden
    responsiveness)."""
    import lightgbm as lgb

    fit = data.frame[fit_rows]
    fit_keys = pd.MultiIndex.from_frame(fit[["campaign_id", "customer_id"]])
    Xf = model._prepared(fit[data.features])
    Xh = model._prepared(holdout[data.features])
    params = {
        "objective": "l2",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_child_samples": 50,
        "deterministic": True,
        "seed": seed,
        "num_threads": 2,
        "verbosity": -1,
    }

    def fitted(target: np.ndarray) -> np.ndarray:
        ok = ~np.isnan(target)
        return lgb.train(params, lgb.Dataset(Xf[ok], target[ok]), 400).predict(Xh)

    p0 = fitted(truth.p_control.reindex(fit_keys).to_numpy(dtype=float))
    ite = truth.ite.reindex(fit_keys).reindex(columns=offer_ids).to_numpy(dtype=float)
    uplift = np.column_stack([fitted(ite[:, k]) for k in range(len(offer_ids))])
    off = data.offers.loc[offer_ids]
    value, cost = off["value"].to_numpy(dtype=float), off["cost"].to_numpy(dtype=float)
    return uplift * value - np.clip(p0[:, None] + uplift, 0.0, 1.0) * cost


# --- policies ---------------------------------------------------------------------------------


def available(frame: pd.DataFrame, offer_ids: list[int], actions: pd.DataFrame) -> np.ndarray:
    """(n, 1 + offers) bool: which actions each row's campaign could take (none always)."""
    col = {o: k + 1 for k, o in enumerate(offer_ids)}
    out = np.zeros((len(frame), 1 + len(offer_ids)), dtype=bool)
    out[:, NO_ACTION] = True
    for cid, group in actions[actions["action"] != NO_ACTION].groupby("campaign_id"):
        rows = (frame["campaign_id"] == cid).to_numpy()
        for o in group["action"]:
            if o in col:
                out[rows, col[o]] = True
    return out


def our_policy(
    ev: pd.DataFrame,
    ev_sd: pd.DataFrame,
    frame: pd.DataFrame,
    offers: pd.DataFrame,
    can: np.ndarray,
    *,
    mode: Mode = "greedy",
    epsilon: float = 0.1,
    policy: ContactPolicy | None = None,
    seed: int = 0,
) -> np.ndarray:
    """(n, 1 + offers) probabilities of our arbitrated choice among each campaign's offers.

    Each row goes through `arbitrate` with the customer's consents, but no contact history:
    these campaigns were sent whatever we would have decided, so what is judged here is the
    choice of offer; the contact rules are tested on their own (tests/test_next_best_action.py).
    """
    policy = policy or ContactPolicy()
    rng = np.random.default_rng(seed)
    offer_ids = list(ev.columns)
    col = {o: k + 1 for k, o in enumerate(offer_ids)}
    out = np.zeros((len(frame), 1 + len(offer_ids)))
    ev_arr, sd_arr = ev.to_numpy(), ev_sd.to_numpy()
    infos = {
        (o, ch): OfferInfo(
            id=int(o),
            name=str(offers.loc[o, "name"]),
            channel=ch,
            value=float(offers.loc[o, "value"]),
            cost=float(offers.loc[o, "cost"]),
        )
        for o in offer_ids
        for ch in frame["channel"].unique()
    }
    consent_cols = [f"can_{c}" for c in ("email", "sms", "push")]
    consents = frame[consent_cols].fillna(False).astype(bool).to_numpy()
    channels = frame["channel"].to_numpy()
    sent = list(frame["sent_at"])  # Timestamps are datetimes
    for i in range(len(frame)):
        allowed = [o for o in offer_ids if can[i, col[o]]]
        context = ContactContext(
            {"email": consents[i, 0], "sms": consents[i, 1], "push": consents[i, 2]}
        )
        decision = arbitrate(
            {o: ev_arr[i, col[o] - 1] for o in allowed},
            [infos[(o, channels[i])] for o in allowed],
            context,
            now=sent[i],
            policy=policy,
            ev_sd={o: sd_arr[i, col[o] - 1] for o in allowed},
        )
        probs = action_probabilities(
            decision,
            mode=mode,
            epsilon=epsilon,
            rng=rng,
            draws=1_000,
            threshold=policy.min_expected_value,
        )
        for pick, p in probs.items():
            out[i, NO_ACTION if pick is None else col[pick]] += p
    return out


def fixed_policy(can: np.ndarray, ranking: list[int], offer_ids: list[int]) -> np.ndarray:
    """Everyone gets the first offer of `ranking` their campaign has (no action if none)."""
    out = np.zeros(can.shape)
    col = {o: k + 1 for k, o in enumerate(offer_ids)}
    done = np.zeros(len(can), dtype=bool)
    for o in (o for o in ranking if o in col):
        take = ~done & can[:, col[o]]
        out[take, col[o]] = 1.0
        done |= take
    out[~done, NO_ACTION] = 1.0
    return out


def random_policy(can: np.ndarray) -> np.ndarray:
    """Uniform over each row's available actions, no action included."""
    return can / can.sum(axis=1, keepdims=True)


def no_action_policy(can: np.ndarray) -> np.ndarray:
    out = np.zeros(can.shape)
    out[:, NO_ACTION] = 1.0
    return out


def single_offer_ranking(
    frame: pd.DataFrame, offers: pd.DataFrame, truth: Truth | None
) -> tuple[list[int], str]:
    """Offers by mean value on these (training) rows: the true value when the simulator's truth
    is there, else the campaigns' own A/B read-out (offer rows vs no-offer rows of the same
    campaigns, weighted by rows)."""
    scores: dict[int, float] = {}
    if truth is not None:
        keys = pd.MultiIndex.from_frame(frame[["campaign_id", "customer_id"]])
        t = truth.ev.reindex(keys)
        scores = {int(o): float(t[o].mean()) for o in t.columns if t[o].notna().any()}
        how = "mean true value on the training period"
    else:
        for o, g in frame[frame["action"] != NO_ACTION].groupby("action"):
            ctrl = frame[
                frame["campaign_id"].isin(g["campaign_id"].unique())
                & (frame["action"] == NO_ACTION)
            ]
            if ctrl.empty:
                continue
            p1, p0 = g["label"].mean(), ctrl["label"].mean()
            v, c = offers.loc[o, "value"], offers.loc[o, "cost"]
            scores[int(o)] = float((p1 - p0) * v - p1 * c)
        how = "A/B read-out on the training period"
    return sorted(scores, key=lambda o: -scores[o]), how


# --- off-policy evaluation --------------------------------------------------------------------


def off_policy_values(
    probs: np.ndarray,
    frame: pd.DataFrame,
    ev_hat: np.ndarray,
    p_hat: np.ndarray,
    value: np.ndarray,
    cost: np.ndarray,
    *,
    alpha: float = 0.05,
) -> dict[str, off_policy.PolicyValue]:
    """IPS, doubly robust and direct estimates of a policy's incremental value per exposure.

    The value of giving offer a is (P(y | a) − P(y | none)) × value_a − P(y | a) × cost_a: it
    needs the no-offer outcome, which a treated row never shows. So the logged rows split the
    work: a row that got offer a adds y × (value_a − cost_a), weighted by π(a)/μ(a), and a row
    that got nothing subtracts y × Σ_a π(a) value_a (the sales the policy's offers would have
    got anyway), weighted by 1/μ(none). In expectation that is exactly the policy's value, and
    it fits the estimators' (reward, logging, target) form with target 1 on the no-offer rows.
    SNIPS is left out: its normaliser assumes the weights are one policy's, which these are
    not. `ev_hat` (n, 1 + offers) and `p_hat` (P(y | action)) are the reward model for DR.
    """
    a = frame["action_index"].to_numpy()
    rows = np.arange(len(a))
    y = frame["label"].to_numpy(dtype=float)
    mu = frame["logging_propensity"].to_numpy(dtype=float)
    treated = a != NO_ACTION
    offered_value = (probs[:, 1:] * value[None, :]).sum(axis=1)
    margin = np.concatenate([[0.0], value - cost])[a]
    reward = np.where(treated, y * margin, -y * offered_value)
    target = np.where(treated, probs[rows, a], 1.0)
    q_logged = np.where(treated, p_hat[rows, a] * margin, -p_hat[:, NO_ACTION] * offered_value)
    q_target = off_policy.expected_reward_under(probs, ev_hat)
    return {
        "ips": off_policy.ips(reward, mu, target, alpha=alpha),
        "dr": off_policy.doubly_robust(reward, mu, target, q_logged, q_target, alpha=alpha),
        "direct": off_policy.direct_method(q_target, alpha=alpha),
    }


# --- the evaluation ---------------------------------------------------------------------------


@dataclass
class NBAReport:
    """What the policies are worth on the holdout period, per exposure (money per send)."""

    mode: str
    rows: dict[str, int]
    periods: dict[str, str]
    true_value: dict[str, float]  # empty without ground truth
    ope: dict[str, dict[str, off_policy.PolicyValue]]
    best_single_offer: str
    per_campaign: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio_to_oracle(self) -> float | None:
        t = self.true_value
        return t["ours"] / t["oracle"] if t.get("oracle") else None

    @property
    def ratio_to_ceiling(self) -> float | None:
        t = self.true_value
        return t["ours"] / t["ceiling"] if t.get("ceiling") else None

    def metrics(self) -> dict[str, float]:
        out = {f"true_{k}": v for k, v in self.true_value.items()}
        if self.ratio_to_oracle is not None:
            out["true_ratio_to_oracle"] = self.ratio_to_oracle
        if self.ratio_to_ceiling is not None:
            out["true_ratio_to_ceiling"] = self.ratio_to_ceiling
        for who, est in self.ope.items():
            for name, pv in est.items():
                out[f"ope_{name}_{who}"] = pv.value
                out[f"ope_{name}_{who}_stderr"] = pv.stderr
        return out

    def __str__(self) -> str:
        lines = [
            f"next best action ({self.mode}): holdout {self.periods['holdout']}, "
            f"{self.rows['holdout']:,} exposures ({self.rows['holdout_complete']:,} with a "
            f"complete 14-day outcome); fitted on {self.rows['fit']:,} ({self.periods['fit']})",
            f"  best single offer: {self.best_single_offer}",
            "  value per exposure   "
            + "".join(f"{k:>18}" for k in ("true", "IPS", "DR", "direct")),
        ]
        names = [*POLICIES, "ceiling", "oracle"]
        for who in names:
            cells = [self.true_value.get(who, float("nan"))]
            est = self.ope.get(who, {})
            cells += [est[k].value if k in est else float("nan") for k in ("ips", "dr", "direct")]
            text = "".join(f"{c:>18.4f}" if np.isfinite(c) else f"{'-':>18}" for c in cells)
            lines.append(f"  {who:20} {text}")
        for who in ("ours", "best_single_offer", "random"):
            if who in self.ope and "dr" in self.ope[who]:
                pv = self.ope[who]["dr"]
                lines.append(
                    f"  DR 95% CI {who:17} [{pv.ci_low:.4f}, {pv.ci_high:.4f}], "
                    f"effective n {pv.effective_sample_size:,.0f}"
                )
        if self.ratio_to_oracle is not None:
            lines.append(f"  ours / oracle (true value): {self.ratio_to_oracle:.3f}")
        if self.ratio_to_ceiling is not None:
            lines.append(
                f"  ours / ceiling: {self.ratio_to_ceiling:.3f} (ceiling: boosters fitted on the"
                " true P(response) and uplifts, same features; what the features can tell)"
            )
        if not self.per_campaign.empty:
            lines.append("  per campaign (true value per exposure):")
            lines += ["    " + line for line in self.per_campaign.to_string().splitlines()]
        return "\n".join(lines)


def split_periods(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Masks: the rows to fit on (everything sent before the holdout period whose outcome is
    complete) and the holdout period (every exposure, complete or not: the truth does not need
    the outcome).

    The holdout starts as `time_split`'s. Campaigns rotate their offers, so a short holdout may
    not try some offer at all (a policy can then be judged only on the others); it is moved
    back one send date at a time while that is so, as long as every offer it then holds was
    also tried before it, so the model has seen them all.
    """
    from training.train import time_split

    _, _, ho = time_split(frame["event_timestamp"])
    ts = frame["event_timestamp"]
    start = ts[ho].min()
    dates = np.sort(ts.unique())
    offered = frame["action"] != NO_ACTION
    everything = set(frame.loc[offered, "action"])
    while True:
        held = ts >= start
        if set(frame.loc[offered & held, "action"]) >= everything:
            break
        earlier = dates[dates < start]
        if len(earlier) < 2:
            break
        candidate = earlier[-1]
        before, inside = ts < candidate, ts >= candidate
        if not set(frame.loc[offered & inside, "action"]) <= set(
            frame.loc[offered & before, "action"]
        ):
            break
        start = candidate
    held = (ts >= start).to_numpy()
    return ~held & frame["complete"].to_numpy(), held


def fit_model(data: ExposureData, fit_rows: np.ndarray, *, seed: int = 0) -> OfferUpliftModel:
    f = data.frame[fit_rows]
    return OfferUpliftModel(random_state=seed, n_bootstrap=N_BOOTSTRAP).fit(
        f[data.features], f["offer_id"].astype("Int64"), f["label"], strata=f["campaign_id"]
    )


def _period(ts: pd.Series) -> str:
    return f"{ts.min():%Y-%m-%d} .. {ts.max():%Y-%m-%d}" if len(ts) else "-"


def evaluate_policies(
    model: OfferUpliftModel,
    data: ExposureData,
    fit_rows: np.ndarray,
    holdout_rows: np.ndarray,
    truth: Truth | None,
    *,
    mode: Mode = "greedy",
    epsilon: float = 0.1,
    contact_policy: ContactPolicy | None = None,
    seed: int = 0,
) -> NBAReport:
    frame, offers = data.frame, data.offers
    ho = frame[holdout_rows].reset_index(drop=True)
    offer_ids = [int(o) for o in model.offers_]
    off = offers.loc[offer_ids]
    value, cost = off["value"].to_numpy(dtype=float), off["cost"].to_numpy(dtype=float)
    X = ho[data.features]
    uplift = model.uplift(X)
    uplift.columns = offer_ids
    p0 = model.predict_control(X)
    p1 = uplift.add(p0, axis=0).clip(0.0, 1.0)
    ev = expected_values(uplift, p1, off)
    sd = model.uplift_sd(X)
    sd.columns = offer_ids
    ev_sd = sd * np.abs(value - cost)[None, :]
    can = available(ho, offer_ids, data.actions)
    ranking, how = single_offer_ranking(frame[fit_rows], offers, truth)
    probs = {
        "ours": our_policy(
            ev,
            ev_sd,
            ho,
            offers,
            can,
            mode=mode,
            epsilon=epsilon,
            policy=contact_policy,
            seed=seed,
        ),
        "best_single_offer": fixed_policy(can, ranking, offer_ids),
        "random": random_policy(can),
        "no_action": no_action_policy(can),
    }
    best_name = next((offers.loc[o, "name"] for o in ranking if o in offer_ids), "none")

    # ground truth: per row and action, the true value (none = 0, unavailable = NaN)
    true_value: dict[str, float] = {}
    per_campaign = pd.DataFrame()
    if truth is not None:
        keys = pd.MultiIndex.from_frame(ho[["campaign_id", "customer_id"]])
        t = truth.ev.reindex(keys).reindex(columns=offer_ids).to_numpy()
        tv = np.column_stack([np.zeros(len(ho)), t])
        tv = np.where(can, np.nan_to_num(tv, nan=0.0), 0.0)
        rows = np.arange(len(ho))
        oracle = np.where(can, tv, -np.inf).max(axis=1)
        per = {who: (p * tv).sum(axis=1) for who, p in probs.items()}
        ceiling_ev = ceiling_values(model, data, fit_rows, ho, truth, offer_ids, seed)
        best = np.where(can, np.column_stack([np.zeros(len(ho)), ceiling_ev]), -np.inf)
        per["ceiling"] = tv[rows, best.argmax(axis=1)]
        per["oracle"] = oracle
        true_value = {who: float(v.mean()) for who, v in per.items()}
        table = pd.DataFrame(per).assign(campaign_id=ho["campaign_id"].to_numpy())
        per_campaign = table.groupby("campaign_id").mean().round(4)
        per_campaign.insert(0, "rows", table.groupby("campaign_id").size())

    # off-policy, on the rows whose outcome is complete
    done = ho["complete"].to_numpy()
    ope: dict[str, dict[str, off_policy.PolicyValue]] = {}
    if done.sum() > 1:
        logged = ho[done].copy()
        col = {o: k + 1 for k, o in enumerate(offer_ids)}
        logged["action_index"] = logged["action"].map(lambda a: col.get(a, NO_ACTION))
        keep = logged["action"].isin([NO_ACTION, *offer_ids]).to_numpy()
        logged = logged[keep]
        p_hat = np.column_stack([p0, p1.to_numpy()])[done][keep]
        ev_hat = np.column_stack([np.zeros(len(ho)), ev.to_numpy()])[done][keep]
        for who, p in probs.items():
            ope[who] = off_policy_values(p[done][keep], logged, ev_hat, p_hat, value, cost)
    rows = {
        "fit": int(fit_rows.sum()),
        "holdout": int(len(ho)),
        "holdout_complete": int(done.sum()),
    }
    periods = {
        "fit": _period(frame.loc[fit_rows, "sent_at"]),
        "holdout": _period(ho["sent_at"]),
    }
    return NBAReport(
        mode,
        rows,
        periods,
        true_value,
        ope,
        f"{best_name} (by {how})",
        per_campaign,
        {"ranking": ranking, "chosen_share": float(1 - probs["ours"][:, NO_ACTION].mean())},
    )


# --- entry points -----------------------------------------------------------------------------


@dataclass
class NBAResult:
    run_id: str
    version: str
    promoted: bool
    reason: str
    report: NBAReport
    seconds: float

    def __str__(self) -> str:
        head = (
            f"{MODEL}: run {self.run_id[:8]}, version {self.version or '-'} → "
            f"{'champion' if self.promoted else 'challenger'} ({self.reason}), "
            f"{self.seconds:.1f} s"
        )
        return f"{head}\n{self.report}"


def _gate(
    version: str, new_value: float, champion_value: Callable[[Any], float]
) -> tuple[bool, str]:
    """Promote if the new model's DR value beats the champion's on the same holdout rows."""
    from mlflow import MlflowClient

    from training import registry

    current = registry.champion_version(MODEL)
    if current is None or current == version:
        promoted, reason = True, "first model: nothing to beat"
    else:
        try:
            old = champion_value(registry.load(MODEL, registry.CHAMPION))
        except (ValueError, KeyError, AttributeError) as exc:
            promoted, reason = True, f"champion v{current} cannot score this holdout ({exc})"
        else:
            promoted = new_value > old
            verb = "beats" if promoted else "does not beat"
            reason = f"DR value {new_value:.4f} {verb} champion v{current}'s {old:.4f}"
    if promoted:
        registry.set_champion(MODEL, version, reason)
    else:
        client = MlflowClient()
        client.set_registered_model_alias(MODEL, registry.CHALLENGER, version)
        client.set_model_version_tag(MODEL, version, "rejected_reason", reason)
    return promoted, reason


def train_nba(settings: Settings, seed: int = 0, *, register: bool = True) -> NBAResult:
    """Fit the uplift model on past exposures, judge the policy on the holdout period, log the
    run to MLflow and register the model (champion if its DR value beats the current one)."""
    import mlflow
    from mlflow.models import infer_signature

    from training import registry
    from training.tracking import configure, experiment_id

    t0 = time.perf_counter()
    data = load_exposures(settings)
    truth = ground_truth_values(settings, data.offers)
    fit_rows, holdout_rows = split_periods(data.frame)
    model = fit_model(data, fit_rows, seed=seed)
    report = evaluate_policies(model, data, fit_rows, holdout_rows, truth, seed=seed)

    def dr_of(candidate: Any) -> float:
        other = evaluate_policies(candidate, data, fit_rows, holdout_rows, None, seed=seed)
        return other.ope["ours"]["dr"].value

    configure(settings)
    with mlflow.start_run(experiment_id=experiment_id(settings, MODEL)) as run:
        mlflow.log_params(
            {
                "model": MODEL,
                "seed": seed,
                "features": len(data.features),
                "offers": ",".join(map(str, model.offers_)),
                "outcome_horizon_days": HORIZON_DAYS,
                "fit_rows": report.rows["fit"],
                "holdout_rows": report.rows["holdout"],
                "fit_period": report.periods["fit"],
                "holdout_period": report.periods["holdout"],
                "ev": "uplift * value - P(response | offer) * cost",
                **{f"est_{k}": v for k, v in model.get_params().items()},
            }
        )
        mlflow.log_metrics(report.metrics())
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            report.per_campaign.to_csv(out / "per_campaign.csv")
            (out / "report.txt").write_text(str(report))
            (out / "features.json").write_text(
                json.dumps({"features": FEATURES[MODEL], "ranking": report.extra["ranking"]})
            )
            mlflow.log_artifacts(str(out), artifact_path="evaluation")
        sample = data.frame.loc[holdout_rows, data.features].head(5)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            signature=infer_signature(
                sample, model.uplift(sample).rename(columns=lambda o: f"offer_{o}")
            ),
            pip_requirements=PIP,
            registered_model_name=MODEL if register else None,
        )
        version = str(info.registered_model_version) if register else ""
        dr = report.ope.get("ours", {}).get("dr")
        if register and dr is None:  # a world too short for any complete 14-day outcome
            promoted, reason = True, "no complete outcome in the holdout to judge on"
            registry.set_champion(MODEL, version, reason)
        elif register:
            promoted, reason = _gate(version, dr.value, dr_of)
            mlflow.set_tags({"promoted": str(promoted), "gate": reason})
        else:
            promoted, reason = False, "not registered"
        run_id = run.info.run_id
    return NBAResult(run_id, version, promoted, reason, report, time.perf_counter() - t0)


def evaluate_nba(
    settings: Settings,
    policy: Mode = "greedy",
    *,
    epsilon: float = 0.1,
    version: str = "champion",
    seed: int = 0,
) -> NBAReport:
    """The holdout report for the registered model (`version`: an alias or a number), choosing
    greedily or with exploration; with no registered model, one is fitted (not logged)."""
    data = load_exposures(settings)
    truth = ground_truth_values(settings, data.offers)
    fit_rows, holdout_rows = split_periods(data.frame)
    model = _registered(settings, version) or fit_model(data, fit_rows, seed=seed)
    return evaluate_policies(
        model, data, fit_rows, holdout_rows, truth, mode=policy, epsilon=epsilon, seed=seed
    )


def _registered(settings: Settings, version: str) -> OfferUpliftModel | None:
    from mlflow.exceptions import MlflowException

    from training import registry
    from training.tracking import configure

    configure(settings)
    try:
        return registry.load(MODEL, version)
    except (MlflowException, OSError):
        return None
