"""Campaign forecasts, the I/O edge: campaign history from the core DB → models/forecast.py.

What a campaign "converted" means is the exposures' own record (`converted_at`, `revenue`), so
the forecast predicts exactly what the campaign reports afterwards. The history of a past
campaign is its exposures' conversions per day of its window; conversions recorded after the
window's end (a newsletter credits orders up to a week after a click) are left out.

The API fits on request from the campaigns that ended before now, excluding the campaign asked
about, and keeps the fitted model in a small in-process cache keyed by the DB and the past
campaigns (id, end, holdout, exposure count) for `CACHE_SECONDS` (outcomes recorded later on
old exposures show up after that). Audience mixes of past campaigns are cached by exposure
count too. On the default simulated world (2 cores shared with other jobs) a cold request
takes 1.0-2.4 s: about 0.6 s is the audience-mix query over half a million exposures, 0.3 s
the fit (six GLM fits for the error model); a refit with the mixes cached 0.8-1.4 s; a cached
answer 0.2-0.5 s. A batch
job would save the cold second but add a deployment step and a staleness of its own; the
history is small (one row per campaign-day), so fitting in the API is the simpler choice.

For a running or ended campaign the forecast is today's model (history up to now, the
campaign itself left out), not the one its launch day would have had; `evaluate_forecast`
measures the launch-day kind, each campaign forecast from what had ended before it started.
"""

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, String, func, select, type_coerce
from sqlalchemy.orm import Session, selectinload

from models.forecast import (
    MAX_WINDOW_DAYS,
    SHARE_PREFIX,
    CampaignForecaster,
    Effect,
    Forecast,
    backtest,
    budget_pace,
    campaign_kind,
    holdout_effect,
    pre_period_effect,
    score,
)
from serving.config import Settings
from serving.core.errors import Invalid
from serving.core.models import (
    Campaign,
    CampaignStatus,
    CouponDefinition,
    Customer,
    DiscountType,
    Exposure,
    Offer,
    Order,
)

MIN_PAST_CAMPAIGNS = 8
PRE_PERIOD_DAYS = 28
CACHE_SECONDS = 600.0
_CACHE_SIZE = 16
UNKNOWN_SEGMENT = "unknown"
# Over this many campaigns, converted exposures are read by one scan and filtered here: an IN
# list over most campaigns makes SQLite walk the (campaign, customer) index row by row, which
# on the default world is 5x slower than scanning.
_IN_LIST_MAX = 20
_lock = threading.Lock()  # guards the two caches below


# --- reading ----------------------------------------------------------------------------------


def raw(column: Any, name: str | None = None) -> Any:
    """A timestamp or money column read as the driver gives it: half a million exposures come
    back in a fraction of the time when the per-value type processing is skipped; pandas then
    parses them at once (`read_frame`)."""
    return type_coerce(column, String).label(name or column.key)


def read_frame(
    session: Session,
    stmt: Any,
    columns: list[str],
    times: tuple[str, ...] = (),
    numbers: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Run a Core select on the session's connection into a frame; `times` become aware UTC
    (SQLite's text or PostgreSQL's datetimes alike), `numbers` floats (NULL → NaN)."""
    result = session.connection().execute(stmt)
    try:  # the DBAPI rows as they are: no Row objects for half a million tuples
        rows = result.cursor.fetchall() if result.cursor is not None else []
    finally:
        result.close()
    frame = pd.DataFrame.from_records(rows, columns=columns)
    for col in times:
        frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
    for col in numbers:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


def _offer_terms(session: Session) -> dict[int, dict[str, float]]:
    """Per offer: value, cost and its first coupon's discount (percent or fixed amount)."""
    terms = {
        o.id: {"value": float(o.value), "cost": float(o.cost), "pct": 0.0, "fixed": 0.0}
        for o in session.scalars(select(Offer))
    }
    seen: set[int] = set()
    for d in session.scalars(select(CouponDefinition).order_by(CouponDefinition.id)):
        if d.offer_id in terms and d.offer_id not in seen:
            seen.add(d.offer_id)
            key = "pct" if d.discount_type == DiscountType.percent else "fixed"
            terms[d.offer_id][key] = float(d.discount_value)
    return terms


def plan_row(campaign: Campaign, terms: dict[int, dict[str, float]]) -> dict[str, Any]:
    """The campaign's plan as a forecast row, without the audience.

    Offer features average the arms' offers by arm weight; `offered_share` is the weight of
    arms carrying an offer (a campaign without arms: its own offer, to everyone).
    """
    arms = [(a.weight, a.offer_id) for a in campaign.arms] or [(1.0, campaign.offer_id)]
    total = sum(w for w, _ in arms) or 1.0
    offered = [(w, terms[o]) for w, o in arms if o is not None and o in terms]
    w_off = sum(w for w, _ in offered)

    def avg(key: str) -> float:
        return sum(w * t[key] for w, t in offered) / w_off if w_off else 0.0

    return {
        "campaign_id": campaign.id,
        "channel": str(campaign.channel),
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "holdout_fraction": float(campaign.holdout_fraction),
        "offered_share": w_off / total,
        "offer_value": avg("value"),
        "offer_cost": avg("cost"),
        "discount_percent": avg("pct"),
        "discount_fixed": avg("fixed"),
        "budget": np.nan if campaign.budget is None else float(campaign.budget),
    }


def audience_mix(session: Session, campaign_ids: list[int]) -> pd.DataFrame:
    """Exposed customers per campaign (holdout included) and their segment shares."""
    if not campaign_ids:
        return pd.DataFrame(columns=["campaign_id", "audience"])
    rows = session.execute(
        select(Exposure.campaign_id, Customer.segment, func.count())
        .join(Customer, Customer.id == Exposure.customer_id)
        .where(Exposure.campaign_id.in_(campaign_ids))
        .group_by(Exposure.campaign_id, Customer.segment)
    ).all()
    counts = pd.DataFrame(rows, columns=["campaign_id", "segment", "n"])
    counts["segment"] = counts["segment"].fillna(UNKNOWN_SEGMENT)
    wide = counts.pivot_table(
        index="campaign_id", columns="segment", values="n", aggfunc="sum", fill_value=0
    )
    audience = wide.sum(axis=1)
    shares = wide.div(audience, axis=0).add_prefix(SHARE_PREFIX)
    shares.columns.name = None
    return shares.assign(audience=audience.astype(float)).reset_index()


def exposure_counts(session: Session, campaign_ids: list[int]) -> dict[int, int]:
    """Exposures per campaign: an index-only count, cheap enough to check on every request."""
    if not campaign_ids:
        return {}
    rows = session.execute(
        select(Exposure.campaign_id, func.count())
        .where(Exposure.campaign_id.in_(campaign_ids))
        .group_by(Exposure.campaign_id)
    ).all()
    return {int(cid): int(n) for cid, n in rows}


def _db_key(session: Session) -> str:
    return str(session.get_bind().engine.url)


_mix_cache: dict[tuple[str, int, int], dict[str, Any]] = {}


def cached_mix(session: Session, counts: dict[int, int]) -> pd.DataFrame:
    """`audience_mix` of campaigns, recomputed only for those whose exposure count changed.

    The mix query joins every exposure to its customer (half a second on the default world);
    a past campaign's audience rarely changes, and a changed count is what gives it away.
    """
    db = _db_key(session)
    with _lock:
        known = {cid: _mix_cache.get((db, cid, n)) for cid, n in counts.items()}
    stale = [cid for cid, row in known.items() if row is None]
    if stale:
        fresh = audience_mix(session, stale)
        with _lock:
            for row in fresh.to_dict("records"):
                cid = int(row["campaign_id"])
                if cid in counts:
                    known[cid] = _mix_cache[(db, cid, counts[cid])] = row
            while len(_mix_cache) > 100_000:
                _mix_cache.pop(next(iter(_mix_cache)))
    rows = [r for r in known.values() if r is not None]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["campaign_id", "audience"])


def campaign_frame(
    session: Session,
    campaigns: list[Campaign],
    terms: dict[int, dict[str, float]] | None = None,
    counts: dict[int, int] | None = None,
) -> pd.DataFrame:
    """Forecast rows of campaigns with windows and exposures (others are left out); with
    `counts` (exposures per campaign) the audience mixes come from the cache."""
    terms = _offer_terms(session) if terms is None else terms
    plans = pd.DataFrame([plan_row(c, terms) for c in campaigns if c.starts_at and c.ends_at])
    if plans.empty:
        return plans
    ids = plans["campaign_id"].tolist()
    if counts is None:
        mix = audience_mix(session, ids)
    else:
        mix = cached_mix(session, {i: counts[i] for i in ids if counts.get(i)})
    frame = plans.merge(mix, on="campaign_id", how="inner")
    shares = [c for c in frame.columns if c.startswith(SHARE_PREFIX)]
    frame[shares] = frame[shares].fillna(0.0)
    return frame


def daily_conversions(
    session: Session, campaigns: pd.DataFrame, as_of: datetime | None = None
) -> pd.DataFrame:
    """Conversions and revenue per campaign and day of its window, recorded before `as_of`."""
    empty = pd.DataFrame(
        {
            "campaign_id": pd.Series(dtype="int64"),
            "day": pd.Series(dtype="int64"),
            "conversions": pd.Series(dtype="float64"),
            "revenue": pd.Series(dtype="float64"),
        }
    )
    if campaigns.empty:
        return empty
    ids = campaigns["campaign_id"].tolist()
    stmt = select(Exposure.campaign_id, raw(Exposure.converted_at), raw(Exposure.revenue)).where(
        Exposure.converted_at.is_not(None)
    )
    if len(ids) <= _IN_LIST_MAX:
        stmt = stmt.where(Exposure.campaign_id.in_(ids))
    if as_of is not None:
        stmt = stmt.where(Exposure.converted_at < as_of)
    rows = read_frame(
        session,
        stmt,
        ["campaign_id", "converted_at", "revenue"],
        times=("converted_at",),
        numbers=("revenue",),
    )
    rows = rows[rows["campaign_id"].isin(ids)]
    if rows.empty:
        return empty
    win = campaigns[["campaign_id", "starts_at", "ends_at"]].assign(
        starts_at=lambda f: pd.to_datetime(f["starts_at"], utc=True),
        ends_at=lambda f: pd.to_datetime(f["ends_at"], utc=True),
    )
    rows = rows.merge(win, on="campaign_id")
    at = rows["converted_at"]
    rows = rows[(at >= rows["starts_at"]) & (at < rows["ends_at"])]
    rows = rows.assign(
        day=((rows["converted_at"] - rows["starts_at"]) // pd.Timedelta(days=1)).astype(int),
        conversions=1.0,
        revenue=rows["revenue"].fillna(0.0),
    )
    return rows.groupby(["campaign_id", "day"], as_index=False)[["conversions", "revenue"]].sum()


def past_campaigns(session: Session, now: datetime, exclude: int | None = None) -> list[Campaign]:
    """Campaigns whose window ended by `now` (whatever their status says), oldest first."""
    stmt = (
        select(Campaign)
        .options(selectinload(Campaign.arms))
        .where(
            Campaign.starts_at.is_not(None),
            Campaign.ends_at.is_not(None),
            Campaign.ends_at <= now,
        )
        .order_by(Campaign.starts_at, Campaign.id)
    )
    if exclude is not None:
        stmt = stmt.where(Campaign.id != exclude)
    return list(session.scalars(stmt))


# --- the fitted model, cached -----------------------------------------------------------------


@dataclass
class FittedHistory:
    model: CampaignForecaster
    campaigns: int
    fitted_at: datetime
    fit_seconds: float


_cache: OrderedDict[tuple[Any, ...], tuple[float, FittedHistory]] = OrderedDict()


def fitted_model(
    session: Session, now: datetime, exclude: int | None, level: float
) -> FittedHistory:
    """The forecaster fitted on campaigns ended by `now` (not `exclude`), from the cache if
    nothing it was fitted on has changed in the last `CACHE_SECONDS`."""
    past = past_campaigns(session, now, exclude)
    counts = exposure_counts(session, [c.id for c in past])
    key = (
        _db_key(session),
        level,
        tuple((c.id, c.ends_at, c.holdout_fraction, counts.get(c.id, 0)) for c in past),
    )
    with _lock:
        hit = _cache.get(key)
        if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
            _cache.move_to_end(key)
            return hit[1]
    t0 = time.perf_counter()
    frame = campaign_frame(session, past, counts=counts)
    if len(frame) < MIN_PAST_CAMPAIGNS:
        raise Invalid(
            f"forecasting needs at least {MIN_PAST_CAMPAIGNS} past campaigns (a start, an end "
            f"before now and exposures) to learn from; found {len(frame)}. Run more campaigns, "
            "record their exposures and conversions, then ask again"
        )
    daily = daily_conversions(session, frame, as_of=now)
    model = CampaignForecaster(level=level).fit(frame, daily)
    fitted = FittedHistory(model, len(frame), now, time.perf_counter() - t0)
    with _lock:
        _cache[key] = (time.monotonic(), fitted)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return fitted


# --- one campaign's forecast ------------------------------------------------------------------


@dataclass
class CampaignForecast:
    campaign: Campaign
    audience: float
    mix: dict[str, float]
    audience_source: str
    history: FittedHistory
    campaign_sigma: float  # the error model's campaign-level sd for this kind of campaign
    daily: pd.DataFrame  # forecast, plus actual_conversions / actual_revenue once started
    totals: dict[str, float]
    effect: Effect | None
    effect_note: str | None
    budget: Any  # models.forecast.BudgetPace or None


def forecast_campaign(
    session: Session,
    campaign: Campaign,
    *,
    audience: tuple[int, dict[str, float]] | None = None,
    now: datetime | None = None,
    level: float = 0.8,
) -> CampaignForecast:
    """The daily forecast of one campaign; once launched also what happened and the budget."""
    now = now or datetime.now(UTC)
    if campaign.starts_at is None or campaign.ends_at is None:
        missing = " and ".join(
            n
            for n, v in (("starts_at", campaign.starts_at), ("ends_at", campaign.ends_at))
            if v is None
        )
        raise Invalid(
            f"campaign {campaign.id} has no {missing}: a forecast needs the window it runs in; "
            "set starts_at and ends_at first"
        )
    if campaign.ends_at - campaign.starts_at > timedelta(days=MAX_WINDOW_DAYS):
        raise Invalid(f"campaign windows longer than {MAX_WINDOW_DAYS} days cannot be forecast")
    row = plan_row(campaign, _offer_terms(session))
    if audience is not None:
        size, mix = audience[0], _normalised(audience[1])
        source = "body"
    else:
        got = audience_mix(session, [campaign.id])
        if got.empty:
            raise Invalid(
                f"campaign {campaign.id} has no exposures yet: give the audience in the body "
                '({"audience": {"size": 12000, "mix": {"consumer": 0.5, "smb": 0.5}}}) or '
                "expose customers first"
            )
        r = got.iloc[0]
        size = float(r["audience"])
        mix = {
            k.removeprefix(SHARE_PREFIX): float(v)
            for k, v in r.items()
            if str(k).startswith(SHARE_PREFIX) and v > 0
        }
        source = "exposures"
    target = pd.DataFrame(
        [{**row, "audience": float(size), **{SHARE_PREFIX + k: v for k, v in mix.items()}}]
    )
    launched = campaign.status in (CampaignStatus.running, CampaignStatus.ended)
    history = fitted_model(session, now, campaign.id, level)
    target = _known_segments(target, mix, history.model.segments_, strict=source == "body")
    result = history.model.predict(target)
    daily = result.daily.drop(columns="campaign_id")
    totals = result.totals.drop(columns="campaign_id").iloc[0].to_dict()
    effect, note, pace = None, None, None
    if launched:
        frame = target[["campaign_id", "starts_at", "ends_at"]].assign(
            starts_at=pd.Timestamp(campaign.starts_at), ends_at=pd.Timestamp(campaign.ends_at)
        )
        actual = daily_conversions(session, frame, as_of=now).set_index("day")
        started = (
            pd.Timestamp(campaign.starts_at) + daily["day"] * pd.Timedelta(days=1)
        ) < pd.Timestamp(now)
        for what in ("conversions", "revenue"):
            got = actual[what].reindex(daily["day"]).fillna(0.0).to_numpy()
            daily[f"actual_{what}"] = np.where(started, got, np.nan)
        effect, note = measured_effect(session, campaign, now, level)
        pace = budget_pace(
            float(campaign.spend or 0.0),
            None if campaign.budget is None else float(campaign.budget),
            pd.Timestamp(campaign.starts_at),
            pd.Timestamp(campaign.ends_at),
            pd.Timestamp(now),
        )
    sigma = history.model.noise_.sigma_of(str(campaign_kind(target)[0]))
    return CampaignForecast(
        campaign, float(size), mix, source, history, sigma, daily, totals, effect, note, pace
    )


def _known_segments(
    target: pd.DataFrame, mix: dict[str, float], known: list[str], *, strict: bool
) -> pd.DataFrame:
    """The audience in the segments the history knows, renormalised; a segment the history
    never saw has no effect to learn from, so a body naming one is an error (often a typo)."""
    unknown = sorted(set(mix) - set(known))
    if unknown and strict:
        raise Invalid(
            f"unknown segment(s) in audience.mix: {', '.join(unknown)}; the past campaigns' "
            f"audiences are described in: {', '.join(known) or '(none)'}"
        )
    total = sum(v for k, v in mix.items() if k in known)
    if known and total <= 0:
        raise Invalid(
            "none of the audience's segments appear in past campaigns' audiences "
            f"({', '.join(known)}): there is nothing to forecast it from"
        )
    shares = {SHARE_PREFIX + k: (mix.get(k, 0.0) / total if total > 0 else 0.0) for k in known}
    rest = target.drop(columns=[c for c in target.columns if c.startswith(SHARE_PREFIX)])
    return rest.assign(**shares)


def _normalised(mix: dict[str, float]) -> dict[str, float]:
    total = sum(mix.values())
    if total <= 0:
        raise Invalid("audience.mix needs at least one positive share")
    return {k: v / total for k, v in mix.items() if v > 0}


def measured_effect(
    session: Session, campaign: Campaign, now: datetime, level: float
) -> tuple[Effect | None, str | None]:
    """Against the holdout when there is one, else against the audience's pre-launch weeks."""
    rows = session.execute(
        select(
            Exposure.is_holdout, Exposure.converted_at, Exposure.revenue, Exposure.customer_id
        ).where(Exposure.campaign_id == campaign.id)
    ).all()
    if not rows:
        return None, "no exposures yet: nothing to measure"
    ex = pd.DataFrame(rows, columns=["holdout", "converted_at", "revenue", "customer_id"])
    at = pd.to_datetime(ex["converted_at"], utc=True)
    done = (at.notna() & (at < pd.Timestamp(now))).to_numpy()
    holdout = ex["holdout"].astype(bool).to_numpy()
    if holdout.sum() >= 2 and (~holdout).sum() >= 2:
        rev = np.where(done, ex["revenue"].fillna(0.0).astype(float), 0.0)
        return holdout_effect(done, rev, holdout, level), None
    start = pd.Timestamp(campaign.starts_at)
    end = min(pd.Timestamp(campaign.ends_at), pd.Timestamp(now))
    full_days = int((end - start) // pd.Timedelta(days=1))
    if full_days < 1:
        return None, "no full day since launch yet: nothing to measure"
    pre_start = start - pd.Timedelta(days=PRE_PERIOD_DAYS)
    orders = _orders_between(session, pre_start, start + pd.Timedelta(days=full_days))
    exposed = orders["customer_id"].isin(set(ex["customer_id"].tolist())).to_numpy()
    days = np.arange(-PRE_PERIOD_DAYS, full_days)
    dates = (start + pd.to_timedelta(days, unit="D")).normalize()
    frames = {}
    for name, part in (("audience", orders[exposed]), ("control", orders[~exposed])):
        day = ((part["ordered_at"] - start) // pd.Timedelta(days=1)).astype(int)
        per_day = part.assign(day=day, orders=1.0).groupby("day")[["orders", "revenue"]].sum()
        grid = pd.DataFrame({"day": days, "date": dates}).join(per_day, on="day").fillna(0.0)
        frames[name] = (grid[grid["day"] < 0], grid[grid["day"] >= 0])
    (pre, post), (c_pre, c_post) = frames["audience"], frames["control"]
    effect = pre_period_effect(pre, post, level, c_pre, c_post)
    return effect, (
        f"no holdout: orders of the exposed customers over {full_days} full day(s) since launch "
        f"against the same weekdays of the {PRE_PERIOD_DAYS} days before, scaled by how the "
        "orders of customers outside the audience moved over the same days (difference in "
        "differences); a holdout measures this without assuming the two groups move alike"
    )


def _orders_between(session: Session, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    stmt = select(Order.customer_id, raw(Order.ordered_at), raw(Order.amount)).where(
        Order.ordered_at >= start.to_pydatetime(), Order.ordered_at < end.to_pydatetime()
    )
    cols = ["customer_id", "ordered_at", "revenue"]
    return read_frame(session, stmt, cols, times=("ordered_at",), numbers=("revenue",))


# --- evaluation -------------------------------------------------------------------------------


def evaluate_forecast(
    settings_or_engine: Settings | Engine,
    *,
    holdout_share: float = 0.25,
    now: datetime | None = None,
    methods: tuple[str, ...] = ("glm",),
) -> dict[str, dict[str, float]]:
    """Rolling-origin backtest on the latest past campaigns by start.

    Each of the last `holdout_share` of the ended campaigns is forecast by a model fitted on the
    campaigns that ended before it started, and by the seasonal-naive copy (the same channel's
    last campaign of the same kind, scaled by audience). Returns {name: metrics} for each method
    and for "seasonal_naive", over all held-out campaigns and per kind ("<name> email:offer"):
    MAPE of daily values (days with actual > 0) and of window totals, WAPE of days, and for the
    80% intervals of days and of totals their coverage (`_coverage`, an outcome on a bound
    counted by its credit, so 0.80 is right for counts too; `_coverage_inclusive`, the plain
    share inside) and interval score (`_interval_score`: one proper number for coverage and
    width, lower is better), for conversions and revenue. `models.forecast.format_scores`
    prints it as a table (`lodestar evaluate forecast`).
    """
    from serving.core.db import make_engine

    own = isinstance(settings_or_engine, Settings)
    engine = make_engine(settings_or_engine.database_url) if own else settings_or_engine
    try:
        with Session(engine) as session:
            now = now or _last_activity(session)
            frame = campaign_frame(session, past_campaigns(session, now))
            daily = daily_conversions(session, frame, as_of=now)
    finally:
        if own:
            engine.dispose()
    if len(frame) < MIN_PAST_CAMPAIGNS + 1:
        raise ValueError(f"need more than {MIN_PAST_CAMPAIGNS} past campaigns; found {len(frame)}")
    n_holdout = max(1, round(len(frame) * holdout_share))
    kinds = pd.Series(campaign_kind(frame), index=frame["campaign_id"].to_numpy())
    report: dict[str, dict[str, float]] = {}
    runs: dict[str, Forecast] = {}
    for method in methods:
        both = backtest(frame, daily, n_holdout, lambda m=method: CampaignForecaster(method=m))
        runs[method], runs["seasonal_naive"] = both["model"], both["naive"]
    for name, fc in runs.items():
        report[name] = score(fc, frame, daily)
        held = kinds.loc[fc.totals["campaign_id"].to_numpy()]
        for kind in sorted(held.unique()):
            ids = held.index[held == kind]
            part = Forecast(
                fc.daily[fc.daily["campaign_id"].isin(ids)],
                fc.totals[fc.totals["campaign_id"].isin(ids)],
                fc.level,
            )
            report[f"{name} {kind}"] = score(part, frame[frame["campaign_id"].isin(ids)], daily)
    return report


def _last_activity(session: Session) -> datetime:
    """The newest recorded moment: the evaluation's "now" (a simulated world ends in the past)."""
    latest = session.scalar(select(func.max(Exposure.sent_at)))
    return latest or datetime.now(UTC)
