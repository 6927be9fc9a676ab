"""Next-best-action: every contact policy on its own, ranking, exploration propensities, the
uplift model on data with known effects, the off-policy reward, and one small simulated world."""

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from models.next_best_action import (
    ContactContext,
    ContactPolicy,
    Decision,
    OfferInfo,
    OfferUpliftModel,
    action_probabilities,
    arbitrate,
    choose,
    expected_values,
)
from serving.core.services.assignment import pick_arm
from training.nba import arm_propensities, off_policy_values

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ALL_CONSENT = ContactContext({"email": True, "sms": True, "push": True})


def offer(id: int = 1, channel: str = "email", **kw) -> OfferInfo:  # noqa: A002
    return OfferInfo(id=id, name=f"offer {id}", channel=channel, value=10.0, cost=2.0, **kw)


def decide(
    ev: dict[int, float],
    offers: list[OfferInfo],
    context: ContactContext = ALL_CONSENT,
    policy: ContactPolicy = ContactPolicy(),  # noqa: B008
) -> Decision:
    return arbitrate(ev, offers, context, now=NOW, policy=policy)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


# --- contact policies, one at a time ----------------------------------------------------------


def test_consent_is_needed_per_message_channel_but_not_for_web() -> None:
    offers = [offer(1, "email"), offer(2, "sms"), offer(3, "push"), offer(4, "web")]
    context = ContactContext({"email": True, "sms": False})  # push missing: no consent
    d = decide({1: 1.0, 2: 3.0, 3: 2.0, 4: 0.5}, offers, context)
    assert [a.offer_id for a in d.actions] == [1, 4]
    assert d.removed_by(2).policy == "consent"
    assert d.removed_by(2).reason == "no consent for sms"
    assert d.removed_by(3).reason == "no consent for push"


def test_frequency_cap_at_the_limit_and_at_the_window_edge() -> None:
    offers = [offer(1, "email"), offer(2, "web")]
    capped = ContactContext({"email": True}, sends=[ago(6.99), ago(1)])
    d = decide({1: 1.0, 2: 1.0}, offers, capped)
    assert d.removed_by(1).policy == "frequency_cap"
    assert d.removed_by(1).reason.startswith("frequency cap: 2 messages in the last 7 days")
    assert [a.offer_id for a in d.actions] == [2]  # on-site offers send nothing
    # one below the limit, or the older send exactly 7 days ago (out of the window): allowed
    for sends in ([ago(1)], [ago(7), ago(1)], [ago(8), ago(1), NOW + timedelta(hours=1)]):
        d = decide({1: 1.0}, [offer(1)], ContactContext({"email": True}, sends=sends))
        assert [a.offer_id for a in d.actions] == [1], sends
    # a stricter policy counts the same history differently
    d = decide(
        {1: 1.0},
        [offer(1)],
        ContactContext({"email": True}, sends=[ago(1)]),
        ContactPolicy(max_messages=1, window_days=3),
    )
    assert d.removed_by(1).reason.startswith("frequency cap: 1 message in the last 3 days")


def test_cooldown_after_a_redemption_ends_exactly_after_its_days() -> None:
    offers = [offer(1, "email"), offer(2, "web")]
    d = decide({1: 1.0, 2: 1.0}, offers, ContactContext({"email": True}, last_redemption=ago(3)))
    assert d.actions == ()
    assert d.removed_by(1).policy == d.removed_by(2).policy == "cooldown"
    assert d.removed_by(1).reason.startswith("cooldown: redeemed 3 days ago")
    just_inside = ContactContext({"email": True}, last_redemption=ago(13.99))
    assert decide({1: 1.0}, [offer(1)], just_inside).actions == ()
    over = ContactContext({"email": True}, last_redemption=ago(14))
    assert [a.offer_id for a in decide({1: 1.0}, [offer(1)], over).actions] == [1]


def test_budget_exhausted_when_it_cannot_pay_one_more_redemption() -> None:
    offers = [
        offer(1, budget_left=0.0),
        offer(2, budget_left=1.5),  # a redemption costs 2.0
        offer(3, budget_left=2.0),
        offer(4, budget_left=None),
    ]
    d = decide({1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}, offers)
    assert [a.offer_id for a in d.actions] == [3, 4]
    assert d.removed_by(1).policy == d.removed_by(2).policy == "budget"
    assert d.removed_by(1).reason.startswith("budget exhausted")


def test_inactive_offers_are_removed() -> None:
    d = decide({1: 5.0, 2: 1.0}, [offer(1, is_active=False), offer(2)])
    assert [a.offer_id for a in d.actions] == [2]
    assert (d.removed_by(1).policy, d.removed_by(1).reason) == ("inactive", "inactive")


def test_ineligible_offers_are_removed_with_their_rule() -> None:
    offers = [offer(1, eligible=False, ineligible_reason="enterprise only"), offer(2)]
    d = decide({1: 5.0, 2: 1.0}, offers)
    assert [a.offer_id for a in d.actions] == [2]
    assert d.removed_by(1).policy == "eligibility"
    assert d.removed_by(1).reason == "not eligible: enterprise only"


def test_no_action_when_nothing_beats_the_threshold() -> None:
    d = decide({1: 0.0, 2: -1.0}, [offer(1), offer(2)])
    assert d.actions == () and d.chosen is None
    assert {r.policy for r in d.removed} == {"min_expected_value"}
    assert d.removed_by(2).reason == "expected value below threshold: -1.00 ≤ 0.00"
    assert "2 expected value below threshold" in d.no_action_reason
    assert [a.offer_id for a in d.below_threshold] == [1, 2]
    assert choose(d, rng=np.random.default_rng(0)) == (None, 1.0)
    # a higher bar removes a positive offer too; no offers at all is also "no action"
    d = decide({1: 0.4, 2: 0.6}, [offer(1), offer(2)], policy=ContactPolicy(min_expected_value=0.5))
    assert [a.offer_id for a in d.actions] == [2]
    assert decide({}, []).no_action_reason == "no offers to consider"
    assert decide({}, [offer(1)]).removed_by(1).policy == "no_score"


def test_actions_are_ranked_by_expected_value_then_id() -> None:
    offers = [offer(i, "web") for i in (1, 2, 3, 4)]
    d = decide({1: 0.5, 2: 3.0, 3: 0.5, 4: 1.25}, offers)
    assert [(a.offer_id, a.expected_value) for a in d.actions] == [
        (2, 3.0),
        (4, 1.25),
        (1, 0.5),
        (3, 0.5),
    ]
    assert d.chosen.offer_id == 2 and d.chosen.channel == "web"
    assert choose(d) == (d.chosen, 1.0)


# --- exploration ------------------------------------------------------------------------------


def _explore_decision() -> Decision:
    offers = [offer(1), offer(2), offer(3), offer(4, "sms")]
    context = ContactContext({"email": True, "sms": False})
    return arbitrate(
        {1: 2.0, 2: 1.0, 3: -1.0, 4: 9.0},
        offers,
        context,
        now=NOW,
        ev_sd={1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0},
    )


def test_epsilon_propensities_by_hand() -> None:
    d = _explore_decision()
    probs = action_probabilities(d, mode="epsilon", epsilon=0.2)
    # explorable: 1, 2 (allowed), 3 (below the threshold) and no action; 4 has no consent
    assert probs == pytest.approx({1: 0.8 + 0.05, 2: 0.05, 3: 0.05, None: 0.05})
    assert sum(probs.values()) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    picks = [choose(d, mode="epsilon", epsilon=0.2, rng=rng) for _ in range(2_000)]
    for action, propensity in picks:
        key = action.offer_id if action else None
        assert propensity == pytest.approx(probs[key])
        assert key != 4  # exploring never breaks a contact policy
    share_best = np.mean([a is not None and a.offer_id == 1 for a, _ in picks])
    assert share_best == pytest.approx(0.85, abs=0.03)


def test_thompson_propensities_sum_to_one_and_follow_the_values() -> None:
    d = _explore_decision()
    probs = action_probabilities(d, mode="thompson", rng=np.random.default_rng(0), draws=20_000)
    assert sum(probs.values()) == pytest.approx(1.0)
    assert 4 not in probs
    assert probs[1] > probs[2] > probs.get(3, 0.0)
    # N(2, 1) vs N(1, 1): P(offer 1's draw is higher) = Φ(1/√2) ≈ 0.76, minus the rare rounds
    # where every draw is ≤ 0
    assert probs[1] == pytest.approx(0.75, abs=0.03)
    action, propensity = choose(d, mode="thompson", rng=np.random.default_rng(3), draws=5_000)
    assert 0 < propensity <= 1 and action is not None and action.offer_id != 4
    # without uncertainty it is greedy
    certain = arbitrate({1: 2.0, 2: 1.0}, [offer(1), offer(2)], ALL_CONSENT, now=NOW)
    assert action_probabilities(certain, mode="thompson") == {1: 1.0}
    with pytest.raises(ValueError, match="unknown mode"):
        action_probabilities(d, mode="softmax")  # type: ignore[arg-type]


def test_expected_value_charges_cost_per_response() -> None:
    uplift = pd.DataFrame({1: [0.10, 0.0], 2: [0.02, -0.05]})
    p1 = pd.DataFrame({1: [0.30, 0.50], 2: [0.10, 0.40]})
    offers = pd.DataFrame({"value": [10.0, 49.0], "cost": [6.0, 12.0]}, index=[1, 2])
    ev = expected_values(uplift, p1, offers)
    assert ev.to_numpy() == pytest.approx(np.array([[1.0 - 1.8, 0.98 - 1.2], [-3.0, -2.45 - 4.8]]))


def test_arm_propensities_match_the_hash_assignment() -> None:
    u = (np.arange(200_000) + 0.5) / 200_000
    arms = pick_arm(u, [1.0, 2.0, 1.0], 0.15)
    share = [(arms == k).mean() for k in (-1, 0, 1, 2)]
    assert share == pytest.approx(arm_propensities([1.0, 2.0, 1.0], 0.15), abs=1e-4)


# --- the uplift model -------------------------------------------------------------------------


def _synthetic(
    n: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """Two offers with opposite, feature-driven effects; control/offer randomised per stratum."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.uniform(size=n)
    seg = rng.choice(["a", "b", "c"], n)
    x1_seen = np.where(rng.random(n) < 0.1, np.nan, x1)  # missing values
    tags = [["deal"] if v > 0.5 else [] for v in x2]
    X = pd.DataFrame({"x1": x1_seen, "x2": x2, "segment": seg, "tags": tags})
    p0 = 1 / (1 + np.exp(-(-1.5 + 0.8 * x1)))
    tau = {
        1: 0.25 * (x2 > 0.5) * (seg != "c"),  # deal seekers outside segment c
        2: 0.20 / (1 + np.exp(-3 * x1)) - 0.05,  # frequent buyers
    }
    offer = rng.choice([0, 1, 2], n, p=[0.4, 0.3, 0.3]).astype(float)
    p = p0 + np.select([offer == 1, offer == 2], [tau[1], tau[2]], 0.0)
    y = (rng.random(n) < np.clip(p, 0, 1)).astype(int)
    return X, np.where(offer == 0, np.nan, offer), y, tau


def test_uplift_model_recovers_heterogeneous_effects() -> None:
    X, offer, y, _ = _synthetic(10_000, seed=0)
    model = OfferUpliftModel(
        committee=2, n_bootstrap=2, min_child_samples=200, learning_rate=0.05
    ).fit(X, offer, y, strata=np.arange(len(X)) % 3)
    Xt, _, _, tau = _synthetic(4_000, seed=1)
    up = model.uplift(Xt)
    assert list(up.columns) == [1.0, 2.0]  # the offer ids as given (floats: NaN = no offer)
    for o in (1, 2):
        truth = pd.Series(tau[o])
        assert truth.corr(up[float(o)], method="spearman") > 0.5
        # the customers we would treat first gain far more than a random pick of them
        top = up[float(o)].rank(ascending=False) <= len(Xt) // 4
        assert truth[top.to_numpy()].mean() > truth.mean() + 0.02
    treated = model.predict_treated(Xt)
    assert ((treated >= 0) & (treated <= 1)).all().all()
    assert (model.uplift_sd(Xt) >= 0).all().all()
    assert model.uplift_draws(Xt).shape == (3, len(Xt), 2)
    assert "tags=deal" in model.control_.feature_names_in_


def test_off_policy_reward_is_unbiased_for_incremental_value() -> None:
    rng = np.random.default_rng(0)
    n = 400_000
    p0 = rng.uniform(0.05, 0.3, n)
    tau = np.column_stack([rng.uniform(-0.05, 0.2, n), rng.uniform(0.0, 0.1, n)])
    value, cost = np.array([10.0, 49.0]), np.array([6.0, 12.0])
    mu = np.array([0.4, 0.3, 0.3])  # logging: none, offer 1, offer 2
    a = rng.choice(3, n, p=mu)
    p_resp = np.column_stack([p0, p0[:, None] + tau])
    y = (rng.random(n) < p_resp[np.arange(n), a]).astype(int)
    ev = np.column_stack([np.zeros(n), tau * value - (p0[:, None] + tau) * cost])
    probs = np.zeros((n, 3))
    probs[np.arange(n), ev.argmax(axis=1)] = 1.0  # the true best action per row
    truth = (probs * ev).sum(axis=1).mean()
    frame = pd.DataFrame({"action_index": a, "label": y, "logging_propensity": mu[a]})
    noisy = p_resp + rng.normal(0, 0.05, p_resp.shape)  # a wrong reward model: DR stays right
    ev_hat = np.column_stack(
        [np.zeros(n), (noisy[:, 1:] - noisy[:, :1]) * value - noisy[:, 1:] * cost]
    )
    est = off_policy_values(probs, frame, ev_hat, noisy, value, cost)
    for name in ("ips", "dr"):
        assert est[name].ci_low - 0.01 < truth < est[name].ci_high + 0.01, (name, est[name], truth)


# --- a small simulated world ------------------------------------------------------------------


@pytest.mark.slow
def test_policy_beats_random_and_best_single_offer_on_a_small_world(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    from features.jobs import apply_repo
    from features.pipelines import build_features
    from serving.config import Settings
    from serving.simulator import run_simulation
    from training.nba import train_nba

    s = Settings(
        database_url=f"sqlite:///{tmp_path}/t.db",
        data_dir=tmp_path / "data",
        mlflow_tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
        feast_project=f"t{uuid.uuid4().hex[:8]}",
    )
    run_simulation(s, customers=4_000, days=150, seed=11, reset=True)
    build_features(s)
    apply_repo(s)
    result = train_nba(s, seed=0)
    report = result.report
    t = report.true_value
    assert t["ours"] > t["random"] and t["ours"] > t["best_single_offer"]
    assert t["ours"] <= t["oracle"] + 1e-9
    # the ceiling (boosters fitted on the true probabilities) chooses from the same features:
    # better than choosing at random, never better than the oracle
    assert t["random"] < t["ceiling"] <= t["oracle"] + 1e-9
    assert report.ratio_to_ceiling == pytest.approx(t["ours"] / t["ceiling"])
    assert t["ours"] > t["no_action"] - 0.01  # where it cannot tell, it holds back
    dr = {who: report.ope[who]["dr"].value for who in ("ours", "best_single_offer", "random")}
    assert dr["ours"] > dr["best_single_offer"] and dr["ours"] > dr["random"]
    assert result.promoted and result.version == "1"
    run = mlflow.get_run(result.run_id)
    assert run.data.metrics["true_ours"] == pytest.approx(t["ours"])
    assert "ope_dr_ours" in run.data.metrics
    assert "true_ratio_to_ceiling" in run.data.metrics
    assert "ours" in str(result) and "oracle" in str(report)
