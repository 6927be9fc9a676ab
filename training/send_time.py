"""Send time, the I/O edge: e-mail history → local hour-of-week arrays → fit → judge on the truth.

Training reads the Parquet event log directly (sends and opens joined per message) rather than
the feature store, because the model wants each send's *local* hour-of-week at the offset in
force that day (DST included), while the feature table buckets by UTC hour. Serving only has
the feature table: `utc_to_local_arrays` shifts its UTC buckets by the customer's current
offset, which is exact except for sends made on the other side of a DST change.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds

from models.send_time import HOURS_OF_WEEK, SendTimeModel, hour_label
from serving.config import Settings

HOLDOUT_SHARE = 0.25  # the last quarter of the e-mail window is held out by default
_EMAIL_TYPES = ("email_sent", "email_open")
_MAX_OPEN = 0.95  # the simulator caps an e-mail's open probability here (mailing.py)


def read_customers(settings: Settings) -> pd.DataFrame:
    """customer_id, timezone (IANA, UTC when unknown) and segment from the core DB."""
    from serving.core.db import make_engine

    engine = make_engine(settings.database_url)
    try:
        frame = pd.read_sql("SELECT id AS customer_id, timezone, segment FROM customers", engine)
    finally:
        engine.dispose()
    frame["timezone"] = frame["timezone"].fillna("UTC")
    frame["segment"] = frame["segment"].fillna("unknown").astype(str)
    return frame


def read_email_events(settings: Settings) -> pd.DataFrame:
    """Every email_sent / email_open of the event log: customer_id, campaign_id, type, occurred_at
    (aware UTC)."""
    if not settings.event_log_dir.is_dir():
        raise ValueError(f"no event log at {settings.event_log_dir}; run `lodestar simulate` first")
    dataset = ds.dataset(settings.event_log_dir, format="parquet", partitioning="hive")
    table = dataset.to_table(
        columns=["customer_id", "campaign_id", "type", "occurred_at"],
        filter=pc.field("type").isin(list(_EMAIL_TYPES)),
    )
    return table.to_pandas()


def email_history(events: pd.DataFrame, cutoff: Any | None = None) -> pd.DataFrame:
    """One row per e-mail sent before `cutoff`: customer_id, sent_at, opened (seen before `cutoff`).

    An open is matched to the latest earlier send of the same campaign to the same customer
    (opens without a campaign to the latest untagged send), and counts once per send. An open
    after the cutoff is unknown at the cutoff, so it does not count: the last day's sends look
    a little colder than they are, as they would in production.
    """
    t = pd.to_datetime(events["occurred_at"], utc=True)
    keep = np.ones(len(events), bool) if cutoff is None else (t < _utc(cutoff)).to_numpy()
    frame = pd.DataFrame(
        {
            "customer_id": events["customer_id"].to_numpy()[keep],
            "campaign": events["campaign_id"].fillna(-1).astype(np.int64).to_numpy()[keep],
            "type": events["type"].to_numpy()[keep],
            "t": t.to_numpy()[keep],
        }
    )
    sends = frame[frame["type"] == "email_sent"].drop(columns="type").sort_values("t")
    opens = frame[frame["type"] == "email_open"].drop(columns="type").sort_values("t")
    sends = sends.reset_index(drop=True)
    sends["send_row"] = np.arange(len(sends))
    matched = pd.merge_asof(
        opens,
        sends.rename(columns={"t": "sent_t"}),
        left_on="t",
        right_on="sent_t",
        by=["customer_id", "campaign"],
        direction="backward",
    )
    opened = np.zeros(len(sends), bool)
    rows = matched["send_row"].dropna().astype(np.int64).to_numpy()
    opened[rows] = True
    return pd.DataFrame(
        {"customer_id": sends["customer_id"], "sent_at": sends["t"], "opened": opened}
    )


def local_how(times: pd.Series, timezones: pd.Series) -> np.ndarray:
    """Local hour-of-week (0 = Monday 00:00) of aware UTC times, each in its own IANA zone,
    at the offset in force at that instant."""
    out = np.empty(len(times), dtype=np.int64)
    t = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
    zones = pd.Series(timezones).fillna("UTC").to_numpy()
    for zone in pd.unique(zones):
        m = zones == zone
        local = t[m].tz_convert(zone)
        out[m] = local.dayofweek.to_numpy() * 24 + local.hour.to_numpy()
    return out


def local_arrays(
    history: pd.DataFrame, customers: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer_ids, sends, opens): per customer of `customers` (in its order), counts of
    e-mails by local hour-of-week of the send, shape (n, 168) each, int32."""
    ids = customers["customer_id"].to_numpy(np.int64)
    pos = pd.Index(ids).get_indexer(history["customer_id"].to_numpy())
    known = pos >= 0
    h = history[known]
    tz = customers["timezone"].to_numpy()[pos[known]]
    how = local_how(h["sent_at"], pd.Series(tz))
    flat = pos[known] * HOURS_OF_WEEK + how
    size = len(ids) * HOURS_OF_WEEK
    sends = np.bincount(flat, minlength=size).astype(np.int32).reshape(len(ids), HOURS_OF_WEEK)
    opens = np.bincount(flat[h["opened"].to_numpy()], minlength=size).astype(np.int32)
    return ids, sends, opens.reshape(len(ids), HOURS_OF_WEEK)


def utc_to_local_arrays(
    sends_utc: np.ndarray, opens_utc: np.ndarray, utc_offset_hours: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Shift UTC hour-of-week counts (the feature store's `customer_send_time`) to local time.

    Local hour = UTC hour + offset. A fractional offset (India's +5:30) splits each UTC hour
    between the two local hours it overlaps, in proportion, since sends spread over the hour;
    the result is then float.
    """
    s = np.atleast_2d(np.asarray(sends_utc, dtype=np.float64))
    o = np.atleast_2d(np.asarray(opens_utc, dtype=np.float64))
    if s.shape != o.shape or s.shape[1] != HOURS_OF_WEEK:
        raise ValueError(f"expected two (n, {HOURS_OF_WEEK}) arrays, got {s.shape} and {o.shape}")
    off = np.broadcast_to(np.asarray(utc_offset_hours, dtype=np.float64), (s.shape[0],))
    if not np.isfinite(off).all() or (np.abs(off) > 24).any():
        raise ValueError("utc_offset_hours must be finite hours within [-24, 24]")
    whole = np.floor(off)
    frac = (off - whole)[:, None]
    cols = np.arange(HOURS_OF_WEEK)

    def shifted(a: np.ndarray, k: np.ndarray) -> np.ndarray:
        # local[j] = utc[j - k]
        idx = np.mod(cols[None, :] - k[:, None], HOURS_OF_WEEK).astype(np.int64)
        return np.take_along_axis(a, idx, axis=1)

    out = []
    for a in (s, o):
        local = (1.0 - frac) * shifted(a, whole) + frac * shifted(a, whole + 1)
        out.append(local if frac.any() else np.rint(local).astype(np.int64))
    return out[0], out[1]


def _utc(when: Any) -> pd.Timestamp:
    ts = pd.Timestamp(when)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def utc_offset_hours(timezones: Any, at: Any | None = None) -> np.ndarray:
    """Each IANA zone's UTC offset in hours at `at` (default now): what serving applies to the
    feature store's UTC buckets and to the recommended local hour."""
    when = pd.Timestamp.now(tz="UTC") if at is None else _utc(at)
    zones = pd.Series(timezones).fillna("UTC").to_numpy()
    out = np.empty(len(zones))
    for zone in pd.unique(zones):
        off = when.tz_convert(zone).utcoffset()
        out[zones == zone] = 0.0 if off is None else off.total_seconds() / 3600.0
    return out


@dataclass
class LocalHistory:
    """Every customer's e-mail history up to a cutoff, by local hour-of-week of the send."""

    customers: pd.DataFrame  # customer_id, timezone, segment (row i = row i of the arrays)
    sends: np.ndarray  # (n, 168) int32
    opens: np.ndarray  # (n, 168) int32
    start: pd.Timestamp  # first e-mail sent in the log
    end: pd.Timestamp  # last e-mail sent in the log
    cutoff: pd.Timestamp | None


def load_history(
    settings: Settings, cutoff: Any | None = None, events: pd.DataFrame | None = None
) -> LocalHistory:
    """Arrays for every customer in the core DB (zeros for those never mailed)."""
    customers = read_customers(settings)
    events = read_email_events(settings) if events is None else events
    sent = pd.to_datetime(events.loc[events["type"] == "email_sent", "occurred_at"], utc=True)
    if sent.empty:
        raise ValueError(
            "the event log holds no email_sent events: nothing to learn send time from"
        )
    cut = None if cutoff is None else _utc(cutoff)
    _, sends, opens = local_arrays(email_history(events, cut), customers)
    return LocalHistory(customers, sends, opens, sent.min(), sent.max(), cut)


def fit_send_time(settings: Settings, cutoff: Any | None = None, **params: Any) -> SendTimeModel:
    """The batch job's fit: every e-mail up to `cutoff` (default all); persist `to_dict()`."""
    h = load_history(settings, cutoff)
    return SendTimeModel(**params).fit(h.sends, h.opens, h.customers["segment"].to_numpy())


def evaluate_send_time(
    settings: Settings, cutoff: Any | None = None, *, ceiling: bool = True, **params: Any
) -> dict[str, Any]:
    """Fit on e-mails sent before `cutoff` (default: the last 25% of the e-mail window held
    out), then judge the hour each customer mailed in the holdout would get, on the truth.

    For customers alive at the cutoff with a send in the holdout, the true open probability of
    one e-mail at (a) the model's hour, (b) the single best hour observed in training (one
    hour for everyone), (c) their true preferred hour (the oracle), plus (d) the segment
    prior's best hour and, with `ceiling`, (e) the best an observer could do who knew the
    simulator's open kernel, each customer's base open rate and the true distribution of
    preferred hours per segment, from the same training sends (the knowable ceiling: the
    oracle's hour is not identifiable from a few dozen sends). Cold-start customers (no sends
    before the cutoff) must get their segment prior's best hour.
    """
    events = read_email_events(settings)
    full = load_history(settings, None, events)
    cut = (
        full.start + (1 - HOLDOUT_SHARE) * (full.end - full.start)
        if cutoff is None
        else _utc(cutoff)
    )
    train = load_history(settings, cut, events)
    segments = train.customers["segment"].to_numpy()
    model = SendTimeModel(**params).fit(train.sends, train.opens, segments)

    truth = pd.read_parquet(settings.ground_truth_dir / "customers.parquet")
    truth = truth.set_index("customer_id").reindex(train.customers["customer_id"])
    in_holdout = full.sends.sum(1) > train.sends.sum(1)
    alive = (pd.to_datetime(truth["death_at"], utc=True) > cut).to_numpy()
    idx = np.flatnonzero(in_holdout & alive & truth["base_open_rate"].notna().to_numpy())
    if len(idx) == 0:
        raise ValueError(f"no customer alive at {cut} was mailed after it: nothing to judge")
    s, o, seg = train.sends[idx], train.opens[idx], segments[idx]
    base = truth["base_open_rate"].to_numpy()[idx]
    pref = truth["preferred_how_local"].to_numpy().astype(np.int64)[idx]
    cold = s.sum(1) == 0

    rec = model.recommend(s, o, seg)
    tot_s, tot_o = train.sends.sum(0), train.opens.sum(0)
    global_best = int(np.argmax(np.where(tot_s > 0, tot_o / np.maximum(tot_s, 1), -1.0)))
    seg_best = pd.Series(model.segment_rates_.argmax(1), index=model.segments_)
    hours = {
        "model": rec["best_how"].to_numpy(),
        "baseline": np.full(len(idx), global_best),
        "oracle": pref,
        "segment_prior": seg_best.reindex(seg).to_numpy(),
    }
    if ceiling:
        all_pref = truth["preferred_how_local"].to_numpy()
        hours["knowable_ceiling"] = _bayes_hours(s, o, base, seg, segments, all_pref)
    rates = {k: true_open_rate(base, v, pref) for k, v in hours.items()}

    def figures(mask: np.ndarray) -> dict[str, Any]:
        rate = {k: float(v[mask].mean()) if mask.any() else float("nan") for k, v in rates.items()}
        return {
            "customers": int(mask.sum()),
            "open_rate": rate,
            "ratio_to_oracle": {k: v / rate["oracle"] for k, v in rate.items() if k != "oracle"},
        }

    everyone = figures(np.ones(len(idx), bool))
    ratio = everyone["ratio_to_oracle"]
    return {
        "window": [full.start.isoformat(), full.end.isoformat()],
        "cutoff": cut.isoformat(),
        "customers_fitted": int((train.sends.sum(1) > 0).sum()),
        "all": everyone,
        "with_history": figures(~cold),
        "cold_start": figures(cold),
        "cold_start_gets_segment_hour": float(
            (hours["model"][cold] == hours["segment_prior"][cold]).mean() if cold.any() else 1.0
        ),
        "baseline_how": global_best,
        "baseline_hour": hour_label(global_best),
        "sources": {k: int(v) for k, v in rec["source"].value_counts().items()},
        "fitted": {
            "customer_strength": model.customer_strength_,
            "segment_strength": model.segment_strength_,
            "level_strength": model.level_strength_,
        },
        "acceptance": {
            "beats_baseline": bool(ratio["model"] > ratio["baseline"]),
            "model_to_oracle_at_least_0.9": bool(ratio["model"] >= 0.9),
        },
    }


def true_open_rate(
    base_open_rate: np.ndarray, send_how: np.ndarray, pref: np.ndarray
) -> np.ndarray:
    """The simulator's open probability for an alive customer (serving/simulator/mailing.py):
    base rate × open kernel, capped at 0.95."""
    from serving.simulator.mailing import open_kernel

    return np.minimum(base_open_rate * open_kernel(send_how, pref), _MAX_OPEN)


def _bayes_hours(
    sends: np.ndarray,
    opens: np.ndarray,
    base: np.ndarray,
    seg: np.ndarray,
    all_segments: np.ndarray,
    all_pref: np.ndarray,
    chunk: int = 256,
) -> np.ndarray:
    """The hour maximising the posterior expected open rate for an observer who knows the
    open kernel, each base rate and each segment's distribution of preferred hours."""
    from serving.simulator.mailing import open_kernel

    h = np.arange(HOURS_OF_WEEK)
    kernel = open_kernel(h[:, None], h[None, :])  # [send hour, preferred hour]
    out = np.empty(len(sends), dtype=np.int64)
    for label in np.unique(seg):
        counts = np.bincount(all_pref[all_segments == label], minlength=HOURS_OF_WEEK)
        log_prior = np.log((counts + 1e-3) / (counts.sum() + 1e-3 * HOURS_OF_WEEK))
        rows = np.flatnonzero(seg == label)
        for lo in range(0, len(rows), chunk):
            r = rows[lo : lo + chunk]
            p = np.minimum(base[r, None, None] * kernel[None], _MAX_OPEN)  # (n, send, pref)
            o, n = opens[r].astype(np.float64), sends[r].astype(np.float64)
            ll = np.einsum("ns,nsh->nh", o, np.log(p)) + np.einsum(
                "ns,nsh->nh", n - o, np.log1p(-p)
            )
            post = np.exp(ll + log_prior - (ll + log_prior).max(1, keepdims=True))
            post /= post.sum(1, keepdims=True)
            out[r] = (post @ kernel.T).argmax(1)  # E[kernel at x] = Σ_h post(h) K[x, h]
    return out


@dataclass(frozen=True)
class SendTimeRun:
    run_id: str
    version: str
    promoted: bool
    reason: str
    customers: int
    evaluation: dict[str, Any] | None
    seconds: float

    def __str__(self) -> str:
        lines = [
            f"send_time: run {self.run_id[:8]}, version {self.version} → "
            f"{'champion' if self.promoted else 'challenger'} ({self.reason}), fitted on "
            f"{self.customers:,} customers' e-mails, {self.seconds:.1f} s"
        ]
        if self.evaluation:
            e = self.evaluation["all"]
            rate, ratio = e["open_rate"], e["ratio_to_oracle"]
            lines.append(
                f"  holdout true open rate at the hour chosen by: model {rate['model']:.4f}, "
                f"global best hour ({self.evaluation['baseline_hour']}) {rate['baseline']:.4f}, "
                f"oracle {rate['oracle']:.4f}"
            )
            line = f"  ÷ oracle: model {ratio['model']:.3f}, baseline {ratio['baseline']:.3f}"
            if "knowable_ceiling" in rate:
                line += (
                    f"; knowable ceiling {ratio['knowable_ceiling']:.3f} "
                    f"(model ÷ ceiling {rate['model'] / rate['knowable_ceiling']:.3f})"
                )
            lines.append(line)
        return "\n".join(lines)


def train_send_time(settings: Settings, **params: Any) -> SendTimeRun:
    """Judge on a held-out quarter (when the simulator's truth is there), then refit on every
    e-mail and register the result; it becomes @champion unless the champion judged better."""
    import json
    import tempfile
    import time
    from pathlib import Path

    import mlflow

    from training import registry
    from training.tracking import configure, experiment_id
    from training.train import PIP

    t0 = time.perf_counter()
    truth = settings.ground_truth_dir / "customers.parquet"
    evaluation = evaluate_send_time(settings, **params) if truth.exists() else None
    history = load_history(settings)
    model = SendTimeModel(**params).fit(
        history.sends, history.opens, history.customers["segment"].to_numpy()
    )
    configure(settings)
    with mlflow.start_run(experiment_id=experiment_id(settings, "send_time")) as run:
        mlflow.log_params(
            {
                **{k: v for k, v in model.get_params().items() if not isinstance(v, dict)},
                "customers": len(history.customers),
                "emails_from": history.start.isoformat(),
                "emails_to": history.end.isoformat(),
            }
        )
        ratio = None
        if evaluation:
            e = evaluation["all"]
            ratio = e["ratio_to_oracle"]["model"]
            mlflow.log_metrics(
                {f"open_rate_{k}": v for k, v in e["open_rate"].items()}
                | {f"ratio_to_oracle_{k}": v for k, v in e["ratio_to_oracle"].items()}
            )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "send_time.json"
            path.write_text(json.dumps({"model": model.to_dict(), "evaluation": evaluation}))
            mlflow.log_artifact(str(path), artifact_path="evaluation")
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            pip_requirements=PIP,
            registered_model_name="send_time",
        )
        version = str(info.registered_model_version)
        current = registry.champion_version("send_time")
        best = None
        if current is not None and ratio is not None:
            champion_run = mlflow.MlflowClient().get_model_version("send_time", current).run_id
            best = mlflow.get_run(champion_run).data.metrics.get("ratio_to_oracle_model")
        if current is None:
            promoted, reason = True, "first model: nothing to beat"
        elif ratio is None or best is None:
            promoted, reason = True, "no ground truth to judge on: the newest fit serves"
        elif ratio >= best - 1e-9:
            promoted, reason = True, f"open-rate ratio {ratio:.4f} ≥ champion's {best:.4f}"
        else:
            promoted, reason = False, f"open-rate ratio {ratio:.4f} below champion's {best:.4f}"
        if promoted:
            registry.set_champion("send_time", version, reason)
        mlflow.set_tags({"promoted": str(promoted), "gate": reason})
    return SendTimeRun(
        run.info.run_id,
        version,
        promoted,
        reason,
        int((history.sends.sum(1) > 0).sum()),
        evaluation,
        time.perf_counter() - t0,
    )
