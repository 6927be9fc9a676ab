"""Attribution (models/attribution.py) on a toy history computed by hand."""

import math

import pandas as pd
import pytest

from models import attribution as A

T0 = pd.Timestamp("2026-03-02", tz="UTC")
CHANNEL = {1: "email", 2: "sms", 3: "push"}


def at(days: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=days)


def toy() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four customers:
    1: campaign 1 sent (day 0), campaign 2 sent (5), campaign 1 clicked (8); order 101 (day 10).
    2: campaign 3 sent (1), campaign 2 sent (3); order 102 at the instant of that send (3);
       order 103 on day 40, when both touches are past the 30-day lookback.
    3: order 104 (day 15), then campaign 1 sent (20): nothing before the order.
    4: campaign 3 sent (0); order 105 exactly 30 days later: the edge of the lookback counts.
    """
    touches = pd.DataFrame(
        [(1, at(0), 1), (1, at(5), 2), (1, at(8), 1), (2, at(1), 3), (2, at(3), 2), (3, at(20), 1)]
        + [(4, at(0), 3)],
        columns=["customer_id", "at", "campaign_id"],
    )
    touches["channel"] = touches["campaign_id"].map(CHANNEL)
    orders = pd.DataFrame(
        [
            (101, 1, at(10), 100.0),
            (102, 2, at(3), 33.33),
            (103, 2, at(40), 20.0),
            (104, 3, at(15), 50.0),
            (105, 4, at(30), 10.0),
        ],
        columns=["order_id", "customer_id", "at", "revenue"],
    )
    return touches, orders


def credits(model: str, **kw) -> pd.DataFrame:
    touches, orders = toy()
    return A.attribute(touches, orders, model, **kw)


def per_campaign(c: pd.DataFrame) -> dict[int, tuple[float, float]]:
    g = c.groupby("campaign_id")[["credit", "revenue"]].sum()
    return {int(k): (round(v.credit, 9), round(v.revenue, 2)) for k, v in g.iterrows()}


def test_first_touch() -> None:
    assert per_campaign(credits("first_touch")) == {1: (1.0, 100.0), 3: (2.0, 43.33)}


def test_last_touch_uses_the_latest_interaction_and_counts_a_touch_at_the_order() -> None:
    # order 101: campaign 1's click (day 8) is later than campaign 2's send (day 5)
    assert per_campaign(credits("last_touch")) == {1: (1.0, 100.0), 2: (1.0, 33.33), 3: (1.0, 10.0)}


def test_linear_splits_cents_exactly() -> None:
    c = credits("linear")
    # order 102: 33.33 / 2 = 16.665 each; the odd cent goes to the lower campaign id (2)
    o102 = c[c["order_id"] == 102].set_index("campaign_id")["revenue"].to_dict()
    assert o102 == {2: 16.67, 3: 16.66}
    assert per_campaign(c) == {1: (0.5, 50.0), 2: (1.0, 66.67), 3: (1.5, 26.66)}


def test_time_decay_weights_by_age() -> None:
    c = credits("time_decay", half_life=pd.Timedelta(days=7))
    o101 = c[c["order_id"] == 101].set_index("campaign_id")["credit"]
    w1, w2 = 2 ** (-2 / 7), 2 ** (-5 / 7)  # campaign 1 clicked 2 days before, campaign 2 sent 5
    assert o101[1] == pytest.approx(w1 / (w1 + w2))
    assert o101[2] == pytest.approx(w2 / (w1 + w2))
    o102 = c[c["order_id"] == 102].set_index("campaign_id")["credit"]
    assert o102[2] == pytest.approx(1 / (1 + 2 ** (-2 / 7)))
    # a shorter half-life leans harder on the most recent touch
    short = credits("time_decay", half_life=pd.Timedelta(days=1))
    assert short[short["order_id"] == 101].set_index("campaign_id")["credit"][1] > o101[1]


@pytest.mark.parametrize("model", A.MODELS)
def test_every_model_hands_out_each_order_once(model: str) -> None:
    c = credits(model)
    assert set(c["order_id"]) == {101, 102, 105}
    assert math.isclose(c["credit"].sum(), 3.0, rel_tol=0, abs_tol=1e-12)
    assert round(c["revenue"].sum(), 2) == 143.33
    per_order = c.groupby("order_id")["revenue"].sum().round(2).to_dict()
    assert per_order == {101: 100.0, 102: 33.33, 105: 10.0}


def test_lookback_bounds_what_counts() -> None:
    touches, orders = toy()
    c = A.attribute(touches, orders, "linear", lookback=pd.Timedelta(days=29))
    assert set(c["order_id"]) == {101, 102}  # order 105's touch is 30 days old
    assert (
        A.attribute(touches, orders, "linear", lookback=pd.Timedelta(days=40))["order_id"].nunique()
        == 4
    )


def test_bad_parameters() -> None:
    touches, orders = toy()
    with pytest.raises(ValueError, match="unknown attribution model 'u_shaped'"):
        A.attribute(touches, orders, "u_shaped")
    with pytest.raises(ValueError, match="half_life"):
        A.attribute(touches, orders, "time_decay", half_life=pd.Timedelta(0))
    with pytest.raises(ValueError, match="lookback"):
        A.attribute(touches, orders, "linear", lookback=pd.Timedelta(days=-1))


def test_no_touches_leaves_everything_unattributed() -> None:
    touches, orders = toy()
    c = A.attribute(touches.iloc[0:0], orders, "linear")
    assert c.empty
    costs = A.campaign_costs(
        pd.DataFrame(columns=["campaign_id", "channel", "starts_at", "ends_at", "spend"]),
        pd.DataFrame(columns=["campaign_id", "at", "offer_cost"]),
        at(0),
        at(50),
        at(50),
    )
    s = A.summarize(c, orders, costs, "linear")
    assert s.unattributed_orders == 5 and s.unattributed_revenue == 213.33
    assert s.by_channel.empty and s.by_campaign.empty


def test_costs_are_spread_over_the_window_plus_offer_cost_per_redemption() -> None:
    campaigns = pd.DataFrame(
        [
            (1, "email", at(0), at(10), 100.0),  # half its window lies in the period
            (2, "sms", at(6), None, 90.0),  # no end: spread up to now (day 15)
            (3, "push", None, None, 500.0),  # no window: no spend counted
        ],
        columns=["campaign_id", "channel", "starts_at", "ends_at", "spend"],
    )
    redemptions = pd.DataFrame(
        [(1, at(6), 6.0), (1, at(7), 6.0), (1, at(2), 6.0), (3, at(9), 12.5)],
        columns=["campaign_id", "at", "offer_cost"],
    )
    costs = A.campaign_costs(campaigns, redemptions, at(5), at(20), now=at(15))
    got = costs.set_index("campaign_id")[["spend_cost", "offer_cost", "cost"]].T.to_dict("list")
    assert got == {1: [50.0, 12.0, 62.0], 2: [90.0, 0.0, 90.0], 3: [0.0, 12.5, 12.5]}


def test_summary_roi_per_campaign_and_channel() -> None:
    touches, orders = toy()
    c = A.attribute(touches, orders, "last_touch")
    costs = pd.DataFrame(
        [(1, "email", 40.0, 10.0, 50.0), (2, "sms", 0.0, 0.0, 0.0), (4, "sms", 30.0, 0.0, 30.0)],
        columns=["campaign_id", "channel", "spend_cost", "offer_cost", "cost"],
    )
    s = A.summarize(c, orders, costs, "last_touch")
    rows = s.by_campaign.set_index("campaign_id")
    assert rows.loc[1, "roi"] == pytest.approx((100 - 50) / 50)
    assert rows.loc[2, "roi"] is None  # revenue but no cost
    assert rows.loc[4, "conversions"] == 0 and rows.loc[4, "roi"] == pytest.approx(-1.0)
    ch = s.by_channel.set_index("channel")
    assert ch.loc["sms", "revenue"] == 33.33 and ch.loc["sms", "cost"] == 30.0
    assert ch.loc["sms", "roi"] == pytest.approx((33.33 - 30) / 30)
    assert ch.loc["push", "roi"] is None
    assert (s.orders, s.revenue) == (5, 213.33)
    assert (s.unattributed_orders, s.unattributed_revenue) == (2, 70.0)
