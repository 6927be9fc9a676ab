"""training.monitor: drift flags what moved and nothing else; the files and errors are readable.

Both sizes run because Evidently picks its tests by reference size: K-S / chi-square p-values
up to 1,000 rows (drift when the p-value is below the threshold), Wasserstein / Jensen-Shannon
distances above (drift when the distance reaches it).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.monitor import DriftSummary, FeatureDrift, Kind, _feature_results, drift_report

NUMERIC = [f"num_{i}" for i in range(10)]
SHIFTED = ["num_1", "num_4", "num_7"]
CATEGORICAL = ["channel", "segment", "is_customer"]
MIX = {"web": 0.5, "email": 0.3, "event": 0.2}
NEW_MIX = {"web": 0.1, "email": 0.3, "event": 0.6}
SIZES = [pytest.param(600, id="p-values"), pytest.param(2000, id="distances")]
SUMMARY_KEYS = {
    "model",
    "generated_at",
    "reference_rows",
    "current_rows",
    "current_source",
    "features",
    "drifted_features",
    "drifted_share",
    "drift_share",
    "retrain",
    "skipped",
}


def make_features(n: int, seed: int, *, shifted: bool = False) -> pd.DataFrame:
    """Ten numeric columns (one of ints) and three categorical ones (object, category, bool)."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for i, name in enumerate(NUMERIC):
        scale = 1.0 + i
        values = rng.normal(10.0 * i, scale, n)
        if shifted and name in SHIFTED:
            values += 2 * scale  # two standard deviations
        data[name] = values
    data["num_8"] = rng.poisson(20, n)
    mix = NEW_MIX if shifted else MIX
    data["channel"] = rng.choice(list(mix), n, p=list(mix.values()))
    data["segment"] = pd.Categorical(rng.choice(["smb", "mid", "ent"], n, p=[0.6, 0.3, 0.1]))
    data["is_customer"] = rng.random(n) < 0.25
    return pd.DataFrame(data)


def assert_verdicts_match_scores(summary: DriftSummary) -> None:
    for f in summary.features:
        assert f.score is not None and f.threshold is not None, f
        below = f.score < f.threshold
        assert f.drift_detected == (below if "p_value" in f.method else not below), f


@pytest.mark.parametrize("n", SIZES)
def test_same_distribution_does_not_drift(n: int, tmp_path: Path) -> None:
    summary = drift_report(
        make_features(n, seed=1), make_features(n, seed=2), model="lead_scoring", out_dir=tmp_path
    )

    assert [f.feature for f in summary.features] == NUMERIC + CATEGORICAL
    assert {f.kind for f in summary.features if f.feature in CATEGORICAL} == {"categorical"}
    assert len(summary.drifted_features) <= 1
    assert summary.retrain is False
    assert summary.skipped == {}
    assert_verdicts_match_scores(summary)


@pytest.mark.parametrize("n", SIZES)
def test_shifted_columns_and_changed_mix_are_flagged(n: int, tmp_path: Path) -> None:
    summary = drift_report(
        make_features(n, seed=1),
        make_features(n, seed=2, shifted=True),
        model="lead_scoring",
        out_dir=tmp_path,
        drift_share=0.2,
    )

    assert set(summary.drifted_features) == {*SHIFTED, "channel"}
    assert summary.drifted_share == pytest.approx(4 / 13)
    assert summary.retrain is True
    assert_verdicts_match_scores(summary)


def test_files_hold_the_report_and_our_summary(tmp_path: Path) -> None:
    out_dir = tmp_path / "reports" / "drift"  # created on demand
    summary = drift_report(
        make_features(2000, seed=1),
        make_features(1500, seed=2, shifted=True),
        model="lead_scoring",
        out_dir=out_dir,
        drift_share=0.2,
    )

    assert summary.html_path == out_dir / "lead_scoring-drift.html"
    assert summary.json_path == out_dir / "lead_scoring-drift.json"
    assert "<html" in summary.html_path.read_text(encoding="utf-8")[:2000].lower()
    saved = json.loads(summary.json_path.read_text(encoding="utf-8"))
    assert set(saved) == SUMMARY_KEYS
    assert saved == summary.to_dict()
    assert (saved["model"], saved["reference_rows"], saved["current_rows"]) == (
        "lead_scoring",
        2000,
        1500,
    )
    assert saved["generated_at"].endswith("+00:00")
    for feature in saved["features"]:
        assert set(feature) == {"feature", "kind", "drift_detected", "score", "method", "threshold"}
    assert saved["drifted_features"] == ["num_1", "num_4", "num_7", "channel"]
    assert saved["retrain"] is True
    assert str(summary).splitlines() == [
        "4 of 13 features drifted (31%): num_1, num_4, num_7, channel"
        " → retrain recommended (threshold 20%)",
        "compared: 2,000 training rows with 1,500 from given",
        f"report: {summary.html_path}",
        f"summary: {summary.json_path}",
    ]


def test_uncomparable_columns_are_skipped_with_a_note(tmp_path: Path) -> None:
    reference, current = make_features(800, seed=1), make_features(800, seed=2)
    for frame in (reference, current):
        frame["tags"] = [["webinar", "pricing"]] * len(frame)
        frame["empty"] = np.nan
        frame["scored_at"] = pd.Timestamp("2026-11-01", tz="UTC")
    reference["only_in_training"] = 1.0
    reference["plan"], current["plan"] = 3, "pro"
    current["late_feature"] = np.nan
    reference["late_feature"] = 1.0

    summary = drift_report(reference, current, model="churn", out_dir=tmp_path)

    reasons = summary.skipped
    assert set(reasons) == {
        "tags",
        "empty",
        "scored_at",
        "only_in_training",
        "plan",
        "late_feature",
    }
    assert "list-valued" in reasons["tags"]
    assert reasons["empty"] == "all values missing in reference and current"
    assert reasons["late_feature"] == "all values missing in current"
    assert "unsupported dtype datetime64" in reasons["scored_at"]
    assert reasons["only_in_training"] == "only in reference"
    assert reasons["plan"].startswith("dtype differs: numerical in reference")
    assert [f.feature for f in summary.features] == NUMERIC + CATEGORICAL
    assert json.loads(summary.json_path.read_text())["skipped"] == reasons
    assert "6 column(s) skipped: " in str(summary)

    chosen = drift_report(
        reference, current, model="churn", out_dir=tmp_path, features=["num_3", "tags"]
    )
    assert [f.feature for f in chosen.features] == ["num_3"]
    assert set(chosen.skipped) == {"tags"}


def test_str_is_a_short_verdict() -> None:
    features = [
        FeatureDrift(f"f{i}", "numerical", False, 0.01, "Wasserstein", 0.1) for i in range(38)
    ]
    features += [FeatureDrift(name, "numerical", True, 0.5, "Wasserstein", 0.1) for name in "abc"]
    summary = DriftSummary(
        model="lead_scoring",
        generated_at="2026-11-22T00:00:00+00:00",
        reference_rows=10,
        current_rows=10,
        features=features,
        drifted_features=["a", "b", "c"],
        drifted_share=3 / 41,
        drift_share=0.3,
        retrain=False,
        skipped={},
        html_path=Path("out/lead_scoring-drift.html"),
        json_path=Path("out/lead_scoring-drift.json"),
    )
    assert str(summary).splitlines() == [
        "3 of 41 features drifted (7%): a, b, c → no retrain needed (threshold 30%)",
        "compared: 10 training rows with 10 from given",
        "report: out/lead_scoring-drift.html",
        "summary: out/lead_scoring-drift.json",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r, c, kw: (r.iloc[0:0], c, kw), "reference frame is empty"),
        (lambda r, c, kw: (r, pd.DataFrame(), kw), "current frame is empty"),
        (lambda r, c, kw: (r, c.add_prefix("x_"), kw), "share no column"),
        (
            lambda r, c, kw: (r, c, {**kw, "features": ["num_1", "nope"]}),
            "'nope' missing from reference and current",
        ),
        (
            lambda r, c, kw: (r, c.drop(columns="num_2"), {**kw, "features": ["num_2"]}),
            "'num_2' missing from current",
        ),
        (lambda r, c, kw: (r, c, {**kw, "features": []}), "non-empty list"),
        (
            lambda r, c, kw: (r[["num_1"]].assign(num_1=np.nan), c[["num_1"]], kw),
            "no column left to compare for drift .num_1: all values missing in reference",
        ),
        (lambda r, c, kw: (r, c, {**kw, "drift_share": 0}), "drift_share must be in"),
        (lambda r, c, kw: (r, c, {**kw, "model": "../x"}), "model must be a plain name"),
    ],
)
def test_bad_input_is_a_readable_value_error(change, message: str, tmp_path: Path) -> None:
    out_dir = tmp_path / "reports"
    reference, current, kwargs = change(
        make_features(50, seed=1), make_features(50, seed=2), {"model": "m", "out_dir": out_dir}
    )
    with pytest.raises(ValueError, match=message):
        drift_report(reference, current, **kwargs)
    assert not out_dir.exists()


def test_results_are_read_from_evidentlys_dict_even_without_test_statuses() -> None:
    # The layout of Snapshot.dict() in evidently 0.7.23; with no "tests" the verdict comes from
    # the score: p-values drift below the threshold, distances at or above it.
    def value_drift(column: str, method: str, value: float) -> dict[str, object]:
        config = {"type": "evidently:metric_v2:ValueDrift", "column": column, "method": method}
        return {"id": column, "config": {**config, "threshold": 0.1}, "value": value}

    report = {
        "metrics": [
            {"config": {"type": "evidently:metric_v2:DriftedColumnsCount"}, "value": {"count": 2}},
            value_drift("p", "K-S p_value", 0.01),
            value_drift("d", "Wasserstein distance (normed)", 0.1),
            value_drift("q", "chi-square p_value", 0.5),
        ]
    }
    kinds: dict[str, Kind] = {"d": "numerical", "p": "numerical", "q": "categorical"}

    results = _feature_results(report, kinds)

    assert [(r.feature, r.drift_detected) for r in results] == [
        ("d", True),
        ("p", True),
        ("q", False),
    ]
    with pytest.raises(RuntimeError, match="no drift result for: extra"):
        _feature_results(report, {**kinds, "extra": "numerical"})
