"""`lodestar experiment analyze`: an A/B test from a file of one row per unit (CSV or Parquet).

The file's own columns name the arm, the outcome and, optionally, a revenue column, a pre-period
covariate (CUPED) and a segment. An outcome of only 0/1 (or true/false) is a conversion; any
other numbers are a mean per unit. Blank revenue and covariate cells count as 0 (no revenue, no
pre-period activity); a blank arm or outcome is an error, as are a missing column, a single arm
and a non-numeric outcome. Without a design (`weights`) the SRM check assumes equal arms and
says so.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.experiments import Comparison, ExperimentResult, GroupSummary, SrmCheck, analyze


class ExperimentDataError(ValueError):
    """The file cannot be analysed as asked; the message says what to fix."""


@dataclass(frozen=True)
class ExperimentReport:
    path: Path
    arm: str
    metrics: dict[str, str]  # metric name → the column it came from
    covariate: str | None
    segment: str | None
    result: ExperimentResult
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return render(self)


# --- reading ------------------------------------------------------------------------------------


_BLANK = {"", "na", "n/a", "nan", "null", "none"}


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    """The columns as given; a CSV is read as text (so an arm or region called "NA" stays one)
    and numbers are parsed by `_numbers`, which can then say which row is wrong."""
    if not path.exists():
        raise ExperimentDataError(f"no such file: {path}")
    parquet = path.suffix.lower() in (".parquet", ".pq")
    header = (
        pd.read_parquet(path).columns if parquet else pd.read_csv(path, nrows=0).columns
    ).tolist()
    missing = [c for c in columns if c not in header]
    if missing:
        raise ExperimentDataError(
            f"{path.name} has no column {', '.join(map(repr, missing))}; "
            f"its columns are: {', '.join(map(str, header))}"
        )
    if parquet:
        return pd.read_parquet(path, columns=columns)
    return pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    """Labels as text, blank = missing."""
    values = frame[column].astype("string").str.strip()
    return values.mask(values == "")


def _numbers(
    frame: pd.DataFrame, column: str, role: str, *, blank_is_zero: bool
) -> tuple[np.ndarray, int]:
    """The column as floats and how many blanks became 0; a clear error on the first bad row."""
    raw = frame[column]
    if raw.dtype == bool:
        return raw.to_numpy(dtype=np.float64), 0
    if raw.dtype == object or isinstance(raw.dtype, pd.StringDtype):
        text = raw.astype("string").str.strip()
        lowered = text.str.lower()
        blank = lowered.isin(_BLANK) | text.isna()
        raw = text.mask(blank)
        if lowered[~blank].isin(["true", "false"]).all() and (~blank).any():
            raw = lowered.mask(blank).map({"true": 1.0, "false": 0.0}, na_action="ignore")
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ExperimentDataError(
            f"{role} column {column!r} must be numeric (0/1 for a conversion, or a number per "
            f"unit); row {row + 2} has {str(raw.iloc[row])!r}"
        )
    blank = values.isna()
    if blank.any() and not blank_is_zero:
        raise ExperimentDataError(f"{role} column {column!r} is blank on {int(blank.sum())} rows")
    return values.fillna(0.0).to_numpy(dtype=np.float64), int(blank.sum())


def _pick_control(arms: pd.Series, control: str | None) -> str:
    names = sorted(arms.dropna().unique().tolist())
    if control is not None:
        if control not in names:
            raise ExperimentDataError(
                f"control {control!r} is not an arm; the arms are: {', '.join(names)}"
            )
        return control
    found = [a for a in names if a.strip().lower() == "control"]
    if len(found) != 1:
        raise ExperimentDataError(
            f"which arm is control? pass control (--control); the arms are: {', '.join(names)}"
        )
    return found[0]


def analyze_csv(
    path: str | Path,
    *,
    arm: str,
    outcome: str,
    control: str | None = None,
    covariate: str | None = None,
    segment: str | None = None,
    revenue: str | None = None,
    alpha: float = 0.05,
    weights: Mapping[str, float] | None = None,
) -> ExperimentReport:
    """Every arm against control on `outcome` (and `revenue`), with CUPED when a covariate is
    given and per segment when a segment is. `control` defaults to the arm named "control"."""
    path = Path(path)
    if not 0 < alpha < 1:
        raise ExperimentDataError("alpha must be between 0 and 1")
    wanted = [arm, outcome, *(c for c in (revenue, covariate, segment) if c is not None)]
    columns = list(dict.fromkeys(wanted))
    frame = _read(path, columns)
    if frame.empty:
        raise ExperimentDataError(f"{path.name} has no rows")
    arms = _text(frame, arm)
    if arms.isna().any():
        raise ExperimentDataError(f"arm column {arm!r} is blank on {int(arms.isna().sum())} rows")
    distinct = arms.unique().tolist()
    if len(distinct) < 2:
        raise ExperimentDataError(
            f"arm column {arm!r} has a single value {distinct[0]!r}: an experiment needs at "
            "least two arms"
        )
    control = _pick_control(arms, control)
    notes = []
    y, _ = _numbers(frame, outcome, "outcome", blank_is_zero=False)
    metrics, sources = {outcome: y}, {outcome: outcome}
    if revenue is not None and revenue != outcome:
        metrics[revenue], blanks = _numbers(frame, revenue, "revenue", blank_is_zero=True)
        sources[revenue] = revenue
        if blanks:
            notes.append(f"blank {revenue!r} counted as 0 on {blanks:,} rows")
    x = None
    if covariate is not None:
        x, blanks = _numbers(frame, covariate, "covariate", blank_is_zero=True)
        if blanks:
            notes.append(f"blank {covariate!r} counted as 0 on {blanks:,} rows")
    is01 = {k for k, v in metrics.items() if k == outcome and ((v == 0) | (v == 1)).all()}
    try:
        result = analyze(
            pd.Categorical(arms),
            metrics,
            control=control,
            binary=is01,
            covariate=x,
            segment=None if segment is None else _text(frame, segment).to_numpy(object, None),
            weights=weights,
            alpha=alpha,
        )
    except ValueError as e:
        raise ExperimentDataError(str(e)) from None
    return ExperimentReport(path, arm, sources, covariate, segment, result, notes)


# --- printing -----------------------------------------------------------------------------------


def _pct(x: float, signed: bool = False) -> str:
    return "n/a" if not np.isfinite(x) else f"{x * 100:{'+' if signed else ''}.2f}%"


def _val(x: float, kind: str, signed: bool = False) -> str:
    if not np.isfinite(x):
        return "n/a"
    if kind == "proportion":
        return f"{x * 100:{'+' if signed else ''}.2f}{'pp' if signed else '%'}"
    return f"{x:{'+' if signed else ''},.4g}"


def _ci(low: float, high: float, fmt: Callable[[float], str]) -> str:
    return f"[{fmt(low)}, {fmt(high)}]"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]


def _metric_block(
    name: str, kind: str, groups: list[GroupSummary], comps: list[Comparison], cuped: bool
) -> list[str]:
    head = ["arm", "n", "mean", "lift [CI]", "rel lift [CI]", "p", "P(beat)", "E[loss]", "seq p"]
    if cuped:
        head += ["CUPED lift [CI]", "CUPED p", "var -"]
    rows = [head]
    by_arm = {c.arm: c for c in comps if c.metric == name}
    for g in groups:
        c = by_arm.get(g.arm)
        row = [g.arm, f"{g.n:,}", _val(g.means[name], kind)]
        if c is None:
            rows.append(row + ["(control)" if g.n else "(no units)"] + [""] * (len(head) - 4))
            continue
        f, b, s = c.frequentist, c.bayesian, c.sequential

        def signed(x: float) -> str:
            return _val(x, kind, signed=True)

        def rel(x: float) -> str:
            return _pct(x, signed=True)

        row += [
            f"{signed(f.abs_lift)} {_ci(f.abs_ci.low, f.abs_ci.high, signed)}",
            f"{rel(f.rel_lift)} {_ci(f.rel_ci.low, f.rel_ci.high, rel)}",
            f"{f.p_value:.3g}" if np.isfinite(f.p_value) else "n/a",
            f"{b.chance_to_beat:.3f}" if np.isfinite(b.chance_to_beat) else "n/a",
            _val(b.expected_loss, kind, signed=True).lstrip("+"),
            f"{s.p_value:.3g}",
        ]
        if cuped and c.cuped is not None:
            cf = c.cuped.frequentist
            row += [
                f"{signed(cf.abs_lift)} {_ci(cf.abs_ci.low, cf.abs_ci.high, signed)}",
                f"{cf.p_value:.3g}" if np.isfinite(cf.p_value) else "n/a",
                _pct(c.cuped.variance_reduction),
            ]
        rows.append(row)
    return [
        f"{name} ({'conversion rate' if kind == 'proportion' else 'mean per unit'})",
        *_table(rows),
    ]


def _scope_lines(
    groups: list[GroupSummary],
    comps: list[Comparison],
    srm_line: str,
    metrics: dict[str, str],
    cuped: bool,
) -> list[str]:
    sizes = " · ".join(
        f"{g.arm} {g.n:,} ({_pct(g.share)}, design {_pct(g.designed_share)})" for g in groups
    )
    lines = [f"arms: {sizes}", srm_line]
    for name, kind in metrics.items():
        lines += ["", *_metric_block(name, kind, groups, comps, cuped)]
    return lines


def _srm_line(s: SrmCheck) -> str:
    verdict = "MISMATCH" if s.mismatch else "ok"
    assumed = " (equal weights assumed)" if s.weights_assumed else ""
    return f"SRM: chi-square {s.statistic:.2f}, df {s.df}, p = {s.p_value:.3g}{assumed}: {verdict}"


def render(report: ExperimentReport) -> str:
    """A compact, readable summary: warnings first, then one table per metric (and segment)."""
    r = report.result
    cuped = report.covariate is not None
    lines = [
        f"experiment: {report.path.name}: {r.n:,} units, control {r.control!r}, "
        f"alpha {r.alpha:g}" + (f", CUPED on {report.covariate!r}" if cuped else ""),
    ]
    lines += [f"!! {w}" for w in r.warnings] + [f"note: {n}" for n in report.notes]
    lines += _scope_lines(r.groups, r.comparisons, _srm_line(r.srm), r.metrics, cuped)
    for seg in r.segments or []:
        lines += ["", f"--- {report.segment} = {seg.segment} ({seg.n:,} units)"]
        lines += [f"!! {w}" for w in seg.warnings]
        lines += _scope_lines(seg.groups, seg.comparisons, _srm_line(seg.srm), r.metrics, cuped)
    lines += [
        "",
        "p: z-test (rates) / Welch t (means), one look; seq p: always-valid mSPRT p, safe to "
        "peek; P(beat): chance to beat control; E[loss]: expected loss of shipping the arm; "
        "var -: CUPED variance reduction",
    ]
    return "\n".join(lines)
