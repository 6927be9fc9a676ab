"""Feature drift: the values a model was trained on against the values it now scores.

Evidently's DataDriftPreset tests each feature (its default test depends on the reference size:
K-S / chi-square p-values up to 1,000 rows, Wasserstein / Jensen-Shannon distances above). We keep
its HTML report for people and write our own small JSON summary for machines, so nothing
downstream depends on the layout of Evidently's dump, which changes between releases.
"""

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

log = logging.getLogger("lodestar.training.monitor")

Kind = Literal["numerical", "categorical"]

_CONTAINERS = (list, tuple, set, frozenset, dict, np.ndarray)

# How many drifted feature names str(summary) lists before "and N more".
_NAMES_SHOWN = 10


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's test as Evidently ran it; `score` is a p-value or a distance (see `method`)."""

    feature: str
    kind: Kind
    drift_detected: bool
    score: float | None
    method: str
    threshold: float | None


@dataclass(frozen=True)
class DriftSummary:
    """What drifted and whether to retrain; `to_dict()` is the JSON written beside the HTML."""

    model: str
    generated_at: str
    reference_rows: int
    current_rows: int
    features: list[FeatureDrift]
    drifted_features: list[str]
    drifted_share: float
    drift_share: float
    retrain: bool
    skipped: dict[str, str]
    html_path: Path
    json_path: Path
    current_source: str = "given"

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary: everything but the file paths (the JSON sits beside the HTML)."""
        out = asdict(self)
        del out["html_path"], out["json_path"]
        return out

    def __str__(self) -> str:
        n, drifted = len(self.features), self.drifted_features
        text = f"{len(drifted)} of {n} features drifted ({self.drifted_share:.0%})"
        if drifted:
            names = ", ".join(drifted[:_NAMES_SHOWN])
            if len(drifted) > _NAMES_SHOWN:
                names += f" and {len(drifted) - _NAMES_SHOWN} more"
            text += f": {names}"
        verdict = "retrain recommended" if self.retrain else "no retrain needed"
        text += f" → {verdict} (threshold {self.drift_share:.0%})"
        if self.skipped:
            text += f"; {len(self.skipped)} column(s) skipped: {', '.join(self.skipped)}"
        return (
            f"{text}\ncompared: {self.reference_rows:,} training rows with {self.current_rows:,} "
            f"from {self.current_source}\nreport: {self.html_path}\nsummary: {self.json_path}"
        )


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    model: str,
    out_dir: Path,
    features: Sequence[str] | None = None,
    drift_share: float = 0.3,
    current_source: str = "given",
) -> DriftSummary:
    """Test every comparable feature for drift; write `<model>-drift.html` and `.json` to out_dir.

    `reference` holds the feature values the model was trained on, `current` those seen when
    scoring. Without `features`, the columns both frames share are compared. Columns that cannot
    be compared (list values, all missing, unsupported or mismatched dtypes, present in only one
    frame) are skipped with the reason recorded. `retrain` is true when the share of drifted
    features reaches `drift_share`.
    """
    _check_inputs(reference, current, model=model, features=features, drift_share=drift_share)
    if features is None:
        shared = set(current.columns)
        columns = [c for c in reference.columns if c in shared]
        skipped = {c: "only in reference" for c in reference.columns if c not in columns}
        skipped |= {c: "only in current" for c in current.columns if c not in columns}
    else:
        columns, skipped = list(dict.fromkeys(features)), {}

    kinds: dict[str, Kind] = {}
    for column in columns:
        if reason := _skip_reason(reference[column], current[column]):
            skipped[column] = reason
            continue
        kind = _dtype_kind(reference[column].dtype)
        assert kind is not None  # _skip_reason has turned away every other dtype
        kinds[column] = kind
    for column, reason in skipped.items():
        log.info("drift %s: skipping %r (%s)", model, column, reason)
    if not kinds:
        reasons = "; ".join(f"{c}: {r}" for c, r in skipped.items())
        raise ValueError(f"no column left to compare for drift ({reasons})")

    generated_at = datetime.now(UTC).isoformat(timespec="seconds")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"{model}-drift.html"
    json_path = out_dir / f"{model}-drift.json"

    snapshot = _run_evidently(reference, current, kinds, drift_share)
    # Snapshot.save_html only writes when given a str: a Path is silently ignored (0.7.23).
    snapshot.save_html(str(html_path))
    results = _feature_results(snapshot.dict(), kinds)

    drifted = [r.feature for r in results if r.drift_detected]
    share = len(drifted) / len(results)
    summary = DriftSummary(
        model=model,
        generated_at=generated_at,
        reference_rows=len(reference),
        current_rows=len(current),
        features=results,
        drifted_features=drifted,
        drifted_share=share,
        drift_share=drift_share,
        retrain=share >= drift_share,
        skipped=skipped,
        html_path=html_path,
        json_path=json_path,
        current_source=current_source,
    )
    json_path.write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
    return summary


def _check_inputs(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    model: str,
    features: Sequence[str] | None,
    drift_share: float,
) -> None:
    if not model or any(sep in model for sep in ("/", "\\")) or model in (".", ".."):
        raise ValueError(f"model must be a plain name usable in a file name, got {model!r}")
    if not 0 < drift_share <= 1:
        raise ValueError(f"drift_share must be in (0, 1], got {drift_share}")
    for name, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
        if frame.empty:
            raise ValueError(
                f"{name} frame is empty ({len(frame)} rows, {frame.shape[1]} columns): "
                "nothing to compare"
            )
        if frame.columns.duplicated().any():
            dupes = sorted(map(str, set(frame.columns[frame.columns.duplicated()])))
            raise ValueError(f"{name} has duplicate columns: {', '.join(dupes)}")
        if not all(isinstance(c, str) for c in frame.columns):
            raise ValueError(f"{name} column names must be strings")
    if features is None:
        if not set(reference.columns) & set(current.columns):
            raise ValueError(
                "reference and current share no column: reference has "
                f"{_preview(reference.columns)}; current has {_preview(current.columns)}"
            )
        return
    if isinstance(features, str) or not features:
        raise ValueError(f"features must be a non-empty list of column names, got {features!r}")
    missing = []
    for feature in dict.fromkeys(features):
        absent = [
            n for n, df in (("reference", reference), ("current", current)) if feature not in df
        ]
        if absent:
            missing.append(f"{feature!r} missing from {' and '.join(absent)}")
    if missing:
        raise ValueError(f"requested features not found: {'; '.join(missing)}")


def _preview(columns: pd.Index, limit: int = 8) -> str:
    names = [str(c) for c in columns]
    more = f" … (+{len(names) - limit})" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _skip_reason(ref: pd.Series, cur: pd.Series) -> str | None:
    """Why this column cannot be tested for drift, or None when it can."""
    empty = [name for name, s in (("reference", ref), ("current", cur)) if s.isna().all()]
    if empty:
        return f"all values missing in {' and '.join(empty)}"
    if _has_lists(ref) or _has_lists(cur):
        return "list-valued column (values cannot be binned or counted)"
    ref_kind, cur_kind = _dtype_kind(ref.dtype), _dtype_kind(cur.dtype)
    if ref_kind is None or cur_kind is None:
        bad = ref.dtype if ref_kind is None else cur.dtype
        return f"unsupported dtype {bad} (numeric, bool, object or category expected)"
    if ref_kind != cur_kind:
        return (
            f"dtype differs: {ref_kind} in reference ({ref.dtype}), "
            f"{cur_kind} in current ({cur.dtype})"
        )
    return None


def _dtype_kind(dtype: Any) -> Kind | None:
    # bool first: pandas counts it as numeric.
    if ptypes.is_bool_dtype(dtype):
        return "categorical"
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        return "numerical"
    if isinstance(dtype, pd.CategoricalDtype) or ptypes.is_string_dtype(dtype):
        return "categorical"
    return None


def _has_lists(s: pd.Series) -> bool:
    """Object columns holding lists, arrays, sets or dicts: unhashable, so not countable."""
    if not ptypes.is_object_dtype(s.dtype):
        return False
    return bool(s.map(lambda v: isinstance(v, _CONTAINERS)).any())


def _run_evidently(
    reference: pd.DataFrame, current: pd.DataFrame, kinds: dict[str, Kind], drift_share: float
) -> Any:
    """Run DataDriftPreset with every column's type declared, so Evidently infers nothing."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = list(kinds)
    # Every type list is given (empty ones too): a None list makes Evidently infer that type
    # from the remaining columns.
    definition = DataDefinition(
        numerical_columns=[c for c in columns if kinds[c] == "numerical"],
        categorical_columns=[c for c in columns if kinds[c] == "categorical"],
        text_columns=[],
        datetime_columns=[],
        unknown_columns=[],
        list_columns=[],
    )
    report = Report([DataDriftPreset(columns=columns, drift_share=drift_share)], include_tests=True)
    return report.run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )


def _feature_results(report: dict[str, Any], kinds: dict[str, Kind]) -> list[FeatureDrift]:
    """Per-column results from `Snapshot.dict()`.

    In 0.7.23 each column is a metric with config {"type": "evidently:metric_v2:ValueDrift",
    "column", "method" (display name, e.g. "K-S p_value"), "threshold"} and value = the score;
    the verdict is the status of the test (id "drift") whose metric_config.metric_id is that
    metric's id: "FAIL" means drift. DriftedColumnsCount has value {"count", "share"}.
    """
    verdicts = {
        t.get("metric_config", {}).get("metric_id"): _status(t.get("status"))
        for t in report.get("tests", [])
        if t.get("id") == "drift"
    }
    found: dict[str, FeatureDrift] = {}
    evidently_count = None
    for metric in report.get("metrics", []):
        config = metric.get("config", {})
        metric_type = str(config.get("type", "")).rsplit(":", 1)[-1]
        if metric_type == "DriftedColumnsCount":
            evidently_count = (metric.get("value") or {}).get("count")
        if metric_type != "ValueDrift" or config.get("column") not in kinds:
            continue
        column, method = config["column"], str(config.get("method") or "unknown")
        score, threshold = _finite(metric.get("value")), _finite(config.get("threshold"))
        verdict = verdicts.get(metric.get("id"))
        if verdict in ("FAIL", "SUCCESS"):
            drifted = verdict == "FAIL"
        else:  # no test result: p-values drift below the threshold, distances at or above it
            log.warning("no drift test result for %r (%s); judging from the score", column, verdict)
            drifted = (
                score is not None
                and threshold is not None
                and (score < threshold if "p_value" in method else score >= threshold)
            )
        found[column] = FeatureDrift(column, kinds[column], drifted, score, method, threshold)

    missing = [c for c in kinds if c not in found]
    if missing:
        raise RuntimeError(f"Evidently returned no drift result for: {', '.join(missing)}")
    results = [found[c] for c in kinds]
    ours = sum(r.drift_detected for r in results)
    if evidently_count is not None and int(evidently_count) != ours:
        log.warning(
            "Evidently counts %s drifted columns, the column tests %s", evidently_count, ours
        )
    return results


def _status(status: Any) -> str | None:
    # A TestStatus (str, Enum) from dict(), a plain str after a JSON round trip.
    return None if status is None else str(getattr(status, "value", status))


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
