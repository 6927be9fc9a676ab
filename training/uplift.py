"""`lodestar train uplift`: promotion exposures → point-in-time features → four uplift learners
→ judged on later campaigns against a response model, random targeting and the simulator's
true effects → MLflow → @champion.

A row is one customer in one promotion (a campaign with at least one arm carrying an offer).
Its treatment is the offer of the arm drawn; control arms, arms without an offer and the
holdout are "no offer" (label 0). The outcome is any order within 14 days of the send (of the
assignment for the holdout, who get nothing), read from `orders` rather than the exposure's
attribution, so imported data behave like simulated data. Campaigns whose 14 days are not over
at the end of the data are left out.

Learners are multi-arm (an uplift column per offer). A campaign is a mix of offers: a treated
customer draws one of its arms, so the uplift of putting a customer in the campaign is the
arm-weighted mean of the offers' uplifts (`models.uplift.mixed_uplift`), and that is the score
every ranking is judged on, over the campaign's treated-vs-control split. Campaigns split
treated and control differently (a 10-20% holdout, control arms of various weights), so the
metrics weight rows by inverse known propensity, and the learners get the same propensities.
"""

import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.vectors import column_of
from models.features import UPLIFT
from models.uplift import (
    LEARNERS,
    ListColumns,
    auuc,
    mixed_uplift,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
)
from serving.config import Settings
from serving.core.db import read_sql_frame

HORIZON = timedelta(days=14)
HOLDOUT_SHARE = 0.3  # the latest 30% of campaigns (at least one) are held out
TOP_K = 0.3
CONTROL = 0  # the treatment label of "no offer"
ANY_OFFER = -1  # the one arm of a pooled model: "some offer of the campaign"
# Per-offer arms need this many treated training rows for every offer; below it the learners
# pool all offers into one arm. Measured on the simulator: with ~700-1,600 treated rows per
# offer (4,000 customers, 150 days) per-offer learners ranked worse than random on the true
# effects in 2 of 6 worlds and pooled ones beat random in all 6; with 5,000-12,000 rows
# (20,000 customers, a year) per-offer ranks a little better than pooled (true@30% 0.0457 vs
# 0.0443).
MIN_OFFER_ROWS = 3_000
ORACLE_TARGET = 0.8  # acceptance: the best learner's Qini ≥ 0.8 × the oracle's
# The learner that wins unless another's holdout Qini beats it clearly: in at least
# SWITCH_SHARE of paired bootstrap resamples of the holdout rows. Learners' realised Qinis differ
# by less than their noise: on a 100,000-customer world the T-learner's 0.00918 beat offset
# T's 0.00913 while its expected Qini (from the true effects) was 0.00677 against 0.00799.
DEFAULT_LEARNER = "offset_t_learner"
SWITCH_SHARE = 0.95
BOOTSTRAP_ROUNDS = 200
ORACLE = "oracle"  # ranks by the simulator's true effects
CEILING = "truth-fitted ceiling"  # a booster fitted on the true effects from our features
FEATURES = UPLIFT  # models/features.py says why these
METRICS = ("qini", "auuc", "uplift_at_30")


# -- result -----------------------------------------------------------------------------------


@dataclass
class UpliftResult:
    source: str
    metrics: dict[str, dict[str, float]]  # who → qini, auuc, uplift_at_30 on the holdout
    winner: str
    rows: dict[str, int]
    seconds: float
    run_id: str = ""
    version: str = ""
    promoted: bool = False
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    def _share_of(self, who: str, of: str, metric: str = "qini") -> float | None:
        reference = self.metrics.get(of, {}).get(metric)
        value = self.metrics.get(who, {}).get(metric)
        return value / reference if reference and value is not None else None

    @property
    def vs_oracle(self) -> float | None:
        """The winner's Qini coefficient as a share of the oracle's (None without truth)."""
        return self._share_of(self.winner, ORACLE)

    @property
    def vs_ceiling(self) -> float | None:
        """The winner's Qini as a share of the truth-fitted ceiling's (None without truth):
        how much of what these features can carry the learner got."""
        return self._share_of(self.winner, CEILING)

    @property
    def ceiling_vs_oracle(self) -> float | None:
        """The ceiling's Qini as a share of the oracle's: the most any learner on these
        features can be expected to reach, to read the 0.8 target against."""
        return self._share_of(CEILING, ORACLE)

    def true_share(self, who: str) -> float | None:
        """`who`'s expected Qini (`true_qini`) as a share of the oracle's: the same ratio as
        the target's, without the luck of one draw of outcomes (None without truth)."""
        return self._share_of(who, ORACLE, "true_qini")

    def __str__(self) -> str:
        head = f"uplift: {self.source}"
        if self.run_id:
            head += (
                f"\n  run {self.run_id[:8]}, version {self.version} → "
                f"{'champion' if self.promoted else 'challenger'} ({self.reason})"
            )
        rows = ", ".join(f"{k} {v:,}" for k, v in self.rows.items())
        truth = any("true_qini" in m for m in self.metrics.values())
        lines = [
            head,
            f"  rows: {rows}; {self.seconds:.1f} s",
            f"  {'holdout':34}{'Qini coef.':>12}{'AUUC':>10}{'uplift@30%':>12}"
            + (f"{'true Qini':>11}{'true@30%':>10}" if truth else ""),
        ]
        for who, m in self.metrics.items():
            mark = " *" if who == self.winner else ""
            line = (
                f"  {who + mark:34}{m['qini']:>12.5f}{m['auuc']:>10.5f}{m['uplift_at_30']:>12.4f}"
            )
            if "true_qini" in m:
                line += f"{m['true_qini']:>11.5f}{m['true_uplift_at_30']:>10.4f}"
            lines.append(line)
        best = self.metrics[self.winner]["qini"]
        summary = f"  winner {self.winner} (Qini {best:.5f})"
        if self.vs_oracle is not None:
            ok = "met" if self.vs_oracle >= ORACLE_TARGET else "not met"
            summary += (
                f": {self.vs_oracle:.3f} × the oracle's Qini (target ≥ {ORACLE_TARGET}: {ok})"
            )
        for other in ("response model", "random"):
            if other in self.metrics:
                beats = best > self.metrics[other]["qini"]
                summary += f"; {'beats' if beats else 'does NOT beat'} {other}"
        lines.append(summary)
        if self.vs_ceiling is not None and self.ceiling_vs_oracle is not None:
            lines.append(
                f"  ceiling: {CEILING} Qini {self.metrics[CEILING]['qini']:.5f} = "
                f"{self.ceiling_vs_oracle:.3f} × the oracle's, the most these features carry; "
                f"the winner reaches {self.vs_ceiling:.3f} × the ceiling's"
            )
        ours, ceiling = self.true_share(self.winner), self.true_share(CEILING)
        if ours is not None:
            line = f"  expected (true Qini, no outcome noise): winner {ours:.3f} × the oracle's"
            if ceiling is not None:
                line += f", ceiling {ceiling:.3f} × (target ≥ {ORACLE_TARGET})"
            lines.append(line)
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def evaluate(
    y: np.ndarray, treated: np.ndarray, score: np.ndarray, propensity: Any = None
) -> dict[str, float]:
    return {
        "qini": qini_coefficient(y, treated, score, propensity=propensity),
        "auuc": auuc(y, treated, score, propensity=propensity),
        "uplift_at_30": uplift_at_k(y, treated, score, TOP_K, propensity=propensity),
    }


def _true_gains(effect: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(share targeted, sum of true effects so far) at each cut, best scores first; tied
    scores are targeted together, as in `models.uplift`'s curves."""
    order = np.argsort(-score, kind="stable")
    s, e = score[order], effect[order]
    ends = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    return np.r_[0.0, (ends + 1) / len(s)], np.r_[0.0, np.cumsum(e)[ends]]


def true_uplift_at_k(effect: np.ndarray, score: np.ndarray, k: float = TOP_K) -> float:
    """Mean *true* effect among the top share `k` by score (ties interpolated, as in
    `uplift_at_k`): only a simulation knows it, and unlike every metric on realised outcomes it
    carries no outcome noise, so it separates rankings on a few thousand rows."""
    x, gain = _true_gains(effect, score)
    return float(np.interp(k, x, gain)) / (k * len(score))


def true_qini(effect: np.ndarray, score: np.ndarray) -> float:
    """The Qini coefficient a ranking earns in expectation: its Qini curve with every outcome
    replaced by its true effect (the sum of the top k's effects over all rows), less random
    targeting's line. On realised outcomes the same coefficient moves by about 10% from one
    draw of the outcomes to the next (the oracle's own: 0.01202 realised vs 0.01206 expected
    on the default world, with a bootstrap sd of 8%), enough to carry a ranking over or under
    a bar on luck; this one cannot."""
    x, gain = _true_gains(effect, score)
    q = gain / len(score)
    return float(np.sum((x[1:] - x[:-1]) * (q[1:] + q[:-1]) / 2)) - q[-1] / 2


def beat_share(
    y: np.ndarray,
    treated: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    propensity: np.ndarray,
    *,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> float:
    """Share of paired bootstrap resamples of the rows in which ranking `a`'s Qini coefficient
    beats ranking `b`'s: how sure one holdout can be that `a` ranks better."""
    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(rounds):
        i = rng.integers(0, len(y), len(y))
        qa = qini_coefficient(y[i], treated[i], a[i], propensity=propensity[i])
        wins += qa > qini_coefficient(y[i], treated[i], b[i], propensity=propensity[i])
    return wins / rounds


def choose_winner(
    metrics: Mapping[str, Mapping[str, float]],
    scores: Mapping[str, np.ndarray],
    y: np.ndarray,
    treated: np.ndarray,
    propensity: np.ndarray,
    seed: int = 0,
) -> tuple[str, str]:
    """The default learner, unless one with a higher holdout Qini beats it in SWITCH_SHARE of
    paired bootstrap resamples; and why, for the report."""
    names = [n for n in scores if n in LEARNERS]
    if DEFAULT_LEARNER not in names:
        best = max(names, key=lambda n: metrics[n]["qini"])
        return best, "the highest holdout Qini"
    higher = sorted(
        (n for n in names if metrics[n]["qini"] > metrics[DEFAULT_LEARNER]["qini"]),
        key=lambda n: -metrics[n]["qini"],
    )
    if not higher:
        return DEFAULT_LEARNER, "the highest holdout Qini"
    shares = {}
    for name in higher:
        shares[name] = beat_share(
            y, treated, scores[name], scores[DEFAULT_LEARNER], propensity, seed=seed
        )
        if shares[name] >= SWITCH_SHARE:
            return name, (
                f"beat the default {DEFAULT_LEARNER} in {shares[name]:.0%} of "
                f"{BOOTSTRAP_ROUNDS} paired bootstrap resamples of the holdout"
            )
    beaten = ", ".join(f"{n} in {v:.0%}" for n, v in shares.items())
    return DEFAULT_LEARNER, (
        f"the default; higher holdout Qinis beat it only by chance-level margins ({beaten} of "
        f"{BOOTSTRAP_ROUNDS} paired bootstrap resamples; {SWITCH_SHARE:.0%} needed to switch)"
    )


# -- campaign rows ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignData:
    rows: pd.DataFrame  # campaign_id, customer_id, sent_at, treatment, y, p_treated (0..n-1)
    propensity: pd.DataFrame  # P(label) per row: columns CONTROL and every offer id
    mixes: dict[int, dict[int, float]]  # campaign → {offer id: share of its treated rows}
    sends: pd.Series  # usable campaign id → send time, in time order


def designs(arms: pd.DataFrame) -> tuple[dict[int, dict[int, float]], dict[int, dict[int, float]]]:
    """Per campaign, from its holdout share and arm weights: P(label) for each treatment label,
    and the offers' shares among the treated (the mix its uplift is scored on)."""
    probs: dict[int, dict[int, float]] = {}
    mixes: dict[int, dict[int, float]] = {}
    for cid, g in arms.groupby("campaign_id"):
        h, total = float(g["holdout_fraction"].iloc[0]), float(g["weight"].sum())
        p: dict[int, float] = {CONTROL: h}
        for label, w in zip(g["label"], g["weight"], strict=True):
            p[int(label)] = p.get(int(label), 0.0) + (1 - h) * float(w) / total
        treated = {k: v for k, v in p.items() if k != CONTROL}
        probs[int(cid)] = p
        mixes[int(cid)] = {k: v / sum(treated.values()) for k, v in treated.items()}
    return probs, mixes


def ordered_within(
    rows: pd.DataFrame, orders: pd.DataFrame, horizon: timedelta = HORIZON
) -> np.ndarray:
    """1 where the customer ordered in (sent_at, sent_at + horizon], else 0."""
    left = rows[["customer_id", "sent_at"]].reset_index().sort_values("sent_at")
    right = orders[["customer_id", "ordered_at"]].sort_values("ordered_at")
    right = right.astype({"ordered_at": left["sent_at"].dtype})
    nxt = pd.merge_asof(
        left,
        right,
        left_on="sent_at",
        right_on="ordered_at",
        by="customer_id",
        direction="forward",
        allow_exact_matches=False,
    )
    nxt = nxt.set_index("index").reindex(rows.index)
    return ((nxt["ordered_at"] - nxt["sent_at"]) <= pd.Timedelta(horizon)).to_numpy(dtype=int)


def load_campaigns(settings: Settings) -> CampaignData:
    from serving.core.db import make_engine
    from training.train import data_window

    engine = make_engine(settings.database_url)
    try:
        _, end = data_window(settings, engine)
        arms = read_sql_frame(
            engine,
            "SELECT a.id AS arm_id, a.campaign_id, a.weight, a.is_control, a.offer_id,"
            " c.holdout_fraction FROM campaign_arms a JOIN campaigns c ON c.id = a.campaign_id"
            " WHERE a.campaign_id IN (SELECT campaign_id FROM campaign_arms"
            " WHERE offer_id IS NOT NULL AND NOT is_control)",
        )
        rows = read_sql_frame(
            engine,
            "SELECT campaign_id, customer_id, arm_id, sent_at, assigned_at FROM exposures"
            " WHERE campaign_id IN (SELECT campaign_id FROM campaign_arms"
            " WHERE offer_id IS NOT NULL AND NOT is_control)",
        )
        orders = read_sql_frame(engine, "SELECT customer_id, ordered_at FROM orders")
    finally:
        engine.dispose()
    if rows.empty:
        raise ValueError(
            "no promotion exposures: uplift learns from campaigns with an offer arm and a "
            "control (arm or holdout)"
        )
    offer = arms["offer_id"].where(~arms["is_control"].astype(bool))
    arms["label"] = offer.fillna(CONTROL).astype(int)
    probs, mixes = designs(arms)
    rows["sent_at"] = rows["sent_at"].fillna(rows["assigned_at"])
    label = arms.set_index("arm_id")["label"]
    rows["treatment"] = rows["arm_id"].map(label).fillna(CONTROL).astype(int)
    sends = rows.groupby("campaign_id")["sent_at"].min().sort_values()
    usable = sends[sends + HORIZON <= pd.Timestamp(end)]
    rows = rows[rows["campaign_id"].isin(usable.index)].reset_index(drop=True)
    rows["y"] = ordered_within(rows, orders)
    labels = sorted({k for p in probs.values() for k in p})
    P = pd.DataFrame(
        [[probs[c].get(k, 0.0) for k in labels] for c in rows["campaign_id"]],
        columns=labels,
        index=rows.index,
    )
    rows["p_treated"] = 1.0 - P[CONTROL]
    return CampaignData(
        rows.drop(columns=["arm_id", "assigned_at"]), P, mixes, usable.rename("sent_at")
    )


def split_campaigns(sends: pd.Series, campaign_id: int | None = None) -> tuple[list, list]:
    """Train on earlier campaigns, hold out later ones; a training campaign's 14 days end
    before the first held-out send, so no training outcome comes from the holdout's period.

    Without `campaign_id`: the latest 30% of campaigns (at least one) are held out. With one,
    that campaign alone is held out and every campaign finished before its send trains.
    """
    if sends.empty:
        raise ValueError(
            f"no promotion's {HORIZON.days} days are over yet: no outcome to learn from"
        )
    if campaign_id is None:
        n_hold = max(1, round(HOLDOUT_SHARE * len(sends)))
        hold = list(sends.index[-n_hold:])
    elif campaign_id not in sends.index:
        raise ValueError(
            f"campaign {campaign_id} is not a promotion whose 14 days are over (usable: "
            f"{', '.join(map(str, sends.index)) or 'none'})"
        )
    else:
        hold = [campaign_id]
    first = sends[hold].min()
    train = list(sends.index[(sends + HORIZON <= first).to_numpy()])
    if not train:
        raise ValueError(
            f"no campaign finished before campaign {hold[0]} was sent: nothing to learn from"
        )
    return train, hold


def model_mix(arms: Sequence[Any], mix: Mapping[int, float]) -> dict[Any, float]:
    """A campaign's offer mix in a model's arms: a pooled model's one arm, or the offers it
    knows, renormalised (empty when it knows none of them)."""
    if list(arms) == [ANY_OFFER]:
        return {ANY_OFFER: 1.0}
    known = {o: w for o, w in mix.items() if o in set(arms) and w > 0}
    total = sum(known.values())
    return {o: w / total for o, w in known.items()}


def campaign_scores(
    uplift: pd.DataFrame, campaign_ids: np.ndarray, mixes: Mapping[int, Mapping[int, float]]
) -> np.ndarray:
    """Each row's uplift of entering its own campaign (its offers' mix)."""
    out = np.zeros(len(uplift))
    for cid in np.unique(campaign_ids):
        m = campaign_ids == cid
        out[m] = mixed_uplift(uplift.loc[m], model_mix(uplift.columns, mixes[int(cid)]))
    return out


def pooled(t: np.ndarray, p_treated: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """Treatment labels and propensities with every offer as the one arm ANY_OFFER."""
    P = pd.DataFrame({CONTROL: 1.0 - p_treated, ANY_OFFER: p_treated})
    return np.where(t == CONTROL, CONTROL, ANY_OFFER), P


# -- ground truth -----------------------------------------------------------------------------


def true_effects(settings: Settings, rows: pd.DataFrame) -> pd.DataFrame | None:
    """The simulator's ITE per row (index) and offer (columns), None without ground truth."""
    path = settings.ground_truth_dir / "treatment_effects.parquet"
    if not path.exists():
        return None
    te = pd.read_parquet(path, columns=["campaign_id", "customer_id", "offer_id", "ite"])
    key = rows[["campaign_id", "customer_id"]].reset_index()
    te = te.merge(key, on=["campaign_id", "customer_id"])
    # two arms of one campaign with the same offer have the same effect: the mean is either
    table = te.pivot_table(index="index", columns="offer_id", values="ite", aggfunc="mean")
    return table.reindex(rows.index)


def _ceiling(
    X_train: pd.DataFrame, ite_train: pd.DataFrame, X_hold: pd.DataFrame, seed: int
) -> pd.DataFrame:
    """A booster fitted to the *true* effects from the same features: how much of the
    oracle's ranking these features can carry at all (an upper reference, not a learner).
    It sees the features as the learners do (tags expanded, ScoreModel's encoding)."""
    import lightgbm as lgb

    from models.scoring import ScoreModel

    lists = ListColumns().fit(X_train)
    train = lists.transform(X_train)
    encoder = ScoreModel().fit_encoding(train)
    A, B = encoder.encode(train), encoder.encode(lists.transform(X_hold))
    out = {}
    for offer in ite_train.columns:
        known = ite_train[offer].notna().to_numpy()
        if known.sum() < 100:
            continue
        model = lgb.LGBMRegressor(
            n_estimators=400,
            learning_rate=0.05,
            num_leaves=15,
            min_child_samples=200,
            random_state=seed,
            n_jobs=2,
            verbose=-1,
        )
        model.fit(
            A[known],
            ite_train.loc[known, offer].to_numpy(),
            categorical_feature=encoder.categorical_positions(),
        )
        out[offer] = model.predict(B)
    return pd.DataFrame(out, index=X_hold.index)


# -- the pipeline -----------------------------------------------------------------------------


def _qini_plot(out: Path, y: np.ndarray, t: np.ndarray, scores: dict, p: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for who, s in scores.items():
        x, q = qini_curve(y, t, s, propensity=p)
        ax.plot(x, q, label=who, linestyle=":" if who in ("random", ORACLE, CEILING) else "-")
    ax.set_xlabel("share of the audience targeted (highest uplift first)")
    ax.set_ylabel("incremental conversions per treated customer")
    ax.set_title("Qini curves on the held-out campaigns")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "qini.png", dpi=90)
    plt.close(fig)


def _gate(version: str, qini: float, score_champion: Any) -> tuple[bool, str]:
    """Promote when first, or when this run's holdout Qini beats the champion's on it."""
    import mlflow

    from training import registry

    current = registry.champion_version("uplift")
    if current is None:
        promoted, reason = True, "first model: nothing to beat"
    elif current == version:
        promoted, reason = True, "already champion"
    else:
        try:
            champ = score_champion(registry.load("uplift", current))
        except (ValueError, KeyError, AttributeError) as exc:  # other features, or older code
            promoted = True
            reason = (
                f"champion v{current} cannot score this holdout ({exc}); the new model takes over"
            )
        else:
            promoted = qini > champ
            verb = "beats" if promoted else "does not beat"
            reason = f"holdout Qini {qini:.5f} {verb} champion v{current}'s {champ:.5f}"
    if promoted:
        registry.set_champion("uplift", version, reason)
    else:
        client = mlflow.MlflowClient()
        client.set_registered_model_alias("uplift", registry.CHALLENGER, version)
        client.set_model_version_tag("uplift", version, "rejected_reason", reason)
    return promoted, reason


def train_uplift_campaign(
    settings: Settings,
    campaign_id: int | None = None,
    *,
    seed: int = 0,
    arms: str = "auto",
    register: bool = True,
    **params: Any,
) -> UpliftResult:
    """Fit the learners (`LEARNERS`) on earlier promotions, judge them on later ones, log the run
    and register the winner (see `split_campaigns` for what `campaign_id` holds out).

    `arms`: "offer" (an uplift per offer), "any" (all offers pooled) or "auto" (per offer when
    every offer has MIN_OFFER_ROWS treated training rows). `params` go to every learner.
    """
    if arms not in ("auto", "offer", "any"):
        raise ValueError(f"arms must be auto, offer or any, not {arms!r}")
    import mlflow

    from features.store import open_store
    from features.training import training_set
    from models.scoring import ScoreModel
    from training.tracking import configure, experiment_id
    from training.train import PIP

    t0 = time.perf_counter()

    def step(what: str) -> None:  # progress on stderr: the fitting takes a couple of minutes
        print(f"uplift [{time.perf_counter() - t0:5.0f} s] {what}", file=sys.stderr, flush=True)

    step("reading promotions, exposures and orders")
    data = load_campaigns(settings)
    train_c, hold_c = split_campaigns(data.sends, campaign_id)
    rows = data.rows
    entities = pd.DataFrame(
        {"customer_id": rows["customer_id"], "event_timestamp": rows["sent_at"]}
    )
    step(f"point-in-time features for {len(rows):,} exposures")
    frame = training_set(open_store(settings), entities, FEATURES)
    X = frame[[column_of(r) for r in FEATURES]]
    tr = rows["campaign_id"].isin(train_c).to_numpy()
    ho = rows["campaign_id"].isin(hold_c).to_numpy()
    y, t = rows["y"].to_numpy(), rows["treatment"].to_numpy()
    treated = t != CONTROL
    per_offer = pd.Series(t[tr & treated]).value_counts()
    if arms == "auto":
        arms = "offer" if per_offer.min() >= MIN_OFFER_ROWS else "any"
    propensity = data.propensity
    if arms == "any":
        t, propensity = pooled(t, rows["p_treated"].to_numpy())
    p_ho = rows.loc[ho, "p_treated"].to_numpy()
    cids = rows.loc[ho, "campaign_id"].to_numpy()

    def judge(score: np.ndarray) -> dict[str, float]:
        return evaluate(y[ho], treated[ho], score, p_ho)

    def score_of(est: Any) -> np.ndarray:
        return campaign_scores(est.predict_frame(X[ho]).reset_index(drop=True), cids, data.mixes)

    fitted, scores = {}, {}
    for k, (name, cls) in enumerate(LEARNERS.items(), start=1):
        step(f"fitting {name} ({k} of {len(LEARNERS)}) on {int(tr.sum()):,} rows")
        est = cls(control=CONTROL, random_state=seed, **params)
        fitted[name] = est.fit(X[tr], t[tr], y[tr], propensity=propensity[tr])
        scores[name] = score_of(est)
    step("response model, and the ceiling where the simulator's truth is at hand")
    lists = ListColumns().fit(X[tr])
    response = ScoreModel(random_state=seed).fit(lists.transform(X[tr & treated]), y[tr & treated])
    scores["response model"] = response.predict_proba(lists.transform(X[ho]))[:, 1]
    scores["random"] = np.zeros(int(ho.sum()))  # all tied: the expectation of random order
    notes = [
        f"arms: {'one per offer' if arms == 'offer' else 'offers pooled'} (fewest treated "
        f"training rows of an offer: {int(per_offer.min()):,})",
        "random = expected value of random targeting (every customer tied)",
    ]
    ite = true_effects(settings, rows)
    if ite is not None and ite[ho].notna().any(axis=1).all():
        ceil = _ceiling(X[tr], ite[tr], X[ho], seed).reset_index(drop=True)
        scores[CEILING] = campaign_scores(ceil, cids, data.mixes)
        scores[ORACLE] = campaign_scores(ite[ho].reset_index(drop=True), cids, data.mixes)
        notes.append(
            f"{CEILING} = a booster fitted on the training rows' true effects from the same "
            "features, scored on the holdout: the most of the oracle's ranking these features "
            "carry (its Qini is noisy too: a learner can land above it)"
        )
    metrics = {who: judge(s) for who, s in scores.items()}
    if ORACLE in scores:
        for who, s in scores.items():
            metrics[who]["true_qini"] = true_qini(scores[ORACLE], s)
            metrics[who]["true_uplift_at_30"] = true_uplift_at_k(scores[ORACLE], s)
        notes.append(
            "true Qini, true@30% = the Qini coefficient and mean effect of the top 30% with "
            "each outcome replaced by its true effect (simulation only: no outcome noise)"
        )
    winner, why = choose_winner(metrics, scores, y[ho], treated[ho], p_ho, seed)
    notes.insert(0, f"winner: {why}")
    counts = {
        "train": int(tr.sum()),
        "holdout": int(ho.sum()),
        "train campaigns": len(train_c),
        "holdout campaigns": len(hold_c),
    }
    source = f"campaigns {', '.join(map(str, train_c))} → {', '.join(map(str, hold_c))}"
    result = UpliftResult(source, metrics, winner, counts, 0.0, notes=notes)
    if not register:
        result.seconds = time.perf_counter() - t0
        return result

    configure(settings)
    with mlflow.start_run(experiment_id=experiment_id(settings, "uplift")) as run:
        est = fitted[winner]
        mlflow.log_params(
            {
                "winner": winner,
                "seed": seed,
                "features": len(FEATURES),
                "arms": arms,
                "arm_labels": ",".join(map(str, est.arms_)),
                "horizon_days": HORIZON.days,
                "train_campaigns": ",".join(map(str, train_c)),
                "holdout_campaigns": ",".join(map(str, hold_c)),
                "train_rows": counts["train"],
                "holdout_rows": counts["holdout"],
                **{f"est_{k}": v for k, v in est.get_params().items()},
            }
        )
        mlflow.log_metrics(
            {
                f"{who.replace(' ', '_').replace('-', '_')}_{k}": v
                for who, m in metrics.items()
                for k, v in m.items()
            }
        )
        for key, value in (
            ("best_vs_oracle_qini", result.vs_oracle),
            ("best_vs_ceiling_qini", result.vs_ceiling),
            ("ceiling_vs_oracle_qini", result.ceiling_vs_oracle),
            ("best_vs_oracle_true_qini", result.true_share(winner)),
            ("ceiling_vs_oracle_true_qini", result.true_share(CEILING)),
        ):
            if value is not None:
                mlflow.log_metric(key, value)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            _qini_plot(out, y[ho], treated[ho], scores, p_ho)
            (out / "metrics.json").write_text(
                json.dumps(
                    {
                        "metrics": metrics,
                        "winner": winner,
                        "campaigns": {"train": train_c, "holdout": hold_c},
                        "mixes": {str(c): data.mixes[c] for c in (*train_c, *hold_c)},
                        "features": FEATURES,
                    },
                    indent=2,
                    default=str,
                )
            )
            mlflow.log_artifacts(str(out), artifact_path="evaluation")
        info = mlflow.sklearn.log_model(
            est,
            name="model",
            serialization_format="cloudpickle",
            pip_requirements=PIP,
            registered_model_name="uplift",
        )
        version = str(info.registered_model_version)
        promoted, reason = _gate(
            version, metrics[winner]["qini"], lambda champ: judge(score_of(champ))["qini"]
        )
        mlflow.set_tags({"promoted": str(promoted), "gate": reason, "winner_reason": why})
        result.run_id, result.version = run.info.run_id, version
        result.promoted, result.reason = promoted, reason
    result.seconds = time.perf_counter() - t0
    return result


# -- any CSV ----------------------------------------------------------------------------------


def _control_label(labels: list[Any], control: Any) -> Any:
    """The control label: as given (matched as text too, since a CSV column may read as
    numbers), else 0/False for a 0/1 column, else a label named control/holdout/none."""
    if control is not None:
        for v in labels:
            if v == control or str(v) == str(control):
                return v
        raise ValueError(f"control {control!r} is not a treatment value ({labels[:10]})")
    if set(labels) <= {0, 1}:  # bools too: False == 0
        return labels[0] if len(labels) == 1 else min(labels)
    named = [v for v in labels if str(v).strip().lower() in ("control", "holdout", "none")]
    if len(named) == 1:
        return named[0]
    raise ValueError(f"which treatment value is the control? pass control= (values: {labels[:10]})")


def train_uplift_csv(
    path: str | Path,
    treatment: str,
    outcome: str,
    control: Any = None,
    *,
    holdout: float = 0.3,
    seed: int = 0,
    **params: Any,
) -> UpliftResult:
    """The learners (`LEARNERS`) on any table (every other column is a feature), judged on a random
    holdout stratified by arm; with several arms each is judged against the control alone.
    Nothing is registered: a CSV's features are not the feature store's. `params` go to every
    learner."""
    from sklearn.model_selection import train_test_split

    from models.scoring import ScoreModel

    t0 = time.perf_counter()
    frame = pd.read_csv(path)
    for col in (treatment, outcome):
        if col not in frame.columns:
            raise ValueError(f"no column {col!r} in {path} (columns: {list(frame.columns)[:20]})")
    if frame[treatment].isna().any():
        raise ValueError(f"{treatment!r} has {int(frame[treatment].isna().sum())} empty values")
    labels = sorted(frame[treatment].unique().tolist(), key=str)
    ctrl = _control_label(labels, control)
    X = frame.drop(columns=[treatment, outcome])
    t, y = frame[treatment].to_numpy(), frame[outcome].to_numpy()
    tr, ho = train_test_split(
        np.arange(len(frame)), test_size=holdout, stratify=t, random_state=seed
    )
    scores: dict[str, pd.DataFrame] = {}
    arms: list[Any] = []
    for name, cls in LEARNERS.items():
        est = cls(control=ctrl, random_state=seed, **params).fit(X.iloc[tr], t[tr], y[tr])
        scores[name], arms = est.predict_frame(X.iloc[ho]), est.arms_
    notes = ["random = expected value of random targeting (every row tied)"]
    binary = bool(np.isin(y, (0, 1)).all())
    if binary:
        m = tr[t[tr] != ctrl]
        response = ScoreModel(random_state=seed).fit(X.iloc[m], y[m])
        p = response.predict_proba(X.iloc[ho])[:, 1]
        scores["response model"] = pd.DataFrame({a: p for a in arms}, index=X.index[ho])
    else:
        notes.append("no response model: the outcome is not 0/1")
    scores["random"] = pd.DataFrame(0.0, index=X.index[ho], columns=arms)
    metrics: dict[str, dict[str, float]] = {}
    for who, frame_ in scores.items():
        for arm in arms:
            rows = (t[ho] == arm) | (t[ho] == ctrl)
            key = who if len(arms) == 1 else f"{who} [{arm}]"
            metrics[key] = evaluate(y[ho][rows], t[ho][rows] == arm, frame_[arm].to_numpy()[rows])

    def mean_qini(name: str) -> float:
        keys = [name] if len(arms) == 1 else [f"{name} [{a}]" for a in arms]
        return float(np.mean([metrics[k]["qini"] for k in keys]))

    best = max(LEARNERS, key=mean_qini)
    winner = (
        best
        if len(arms) == 1
        else max(
            (k for k in metrics if k.startswith(f"{best} [")), key=lambda k: metrics[k]["qini"]
        )
    )
    if len(arms) > 1:
        notes.append(f"best learner by mean Qini over arms: {best}")
    counts = {"train": len(tr), "holdout": len(ho), "arms": len(arms)}
    source = f"{path} (treatment {treatment!r}, control {ctrl!r}, outcome {outcome!r})"
    return UpliftResult(source, metrics, winner, counts, time.perf_counter() - t0, notes=notes)
