"""Columns of lists of strings (CRM tags) as 0/1 indicator columns, one per frequent value.

The boosters' input handling (models/scoring.py) takes numbers and text only, and a tag like
"deal_seeker" is a signal on its own, not as part of a whole list's text.
"""

import numpy as np
import pandas as pd

MAX_TOKENS = 50  # indicator columns per list column: its most frequent values seen in fit
LIST_TYPES = (list, tuple, np.ndarray)


def list_tokens(X: pd.DataFrame) -> dict[str, list[str]]:
    """For every column holding lists, its `MAX_TOKENS` most frequent values."""
    tokens: dict[str, list[str]] = {}
    for col in X.columns:
        values = X[col].dropna() if X[col].dtype == object else ()
        if len(values) and all(isinstance(v, LIST_TYPES) for v in values.head(200)):
            counts = pd.Series([str(t) for v in values for t in v], dtype=object)
            tokens[str(col)] = sorted(counts.value_counts().index[:MAX_TOKENS].tolist())
    return tokens


def expand_lists(X: pd.DataFrame, tokens: dict[str, list[str]]) -> pd.DataFrame:
    """X with each list column replaced by `col=value` columns (NaN where the list is missing);
    other columns pass through."""
    if not tokens:
        return X
    out = X.drop(columns=[c for c in X.columns if str(c) in tokens])
    extra = {}
    for col, values_seen in tokens.items():
        values = X[col] if col in X.columns else pd.Series([None] * len(X), index=X.index)
        sets = [set(map(str, v)) if isinstance(v, LIST_TYPES) else None for v in values]
        for tok in values_seen:
            extra[f"{col}={tok}"] = [np.nan if s is None else float(tok in s) for s in sets]
    return pd.concat([out, pd.DataFrame(extra, index=X.index)], axis=1)
