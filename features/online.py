"""Feature vectors for serving, from the online store: same names, order and dtypes as
`training_set` gives training (features/vectors.py)."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from features.vectors import conform

if TYPE_CHECKING:
    from feast import FeatureStore


def online_features(
    store: "FeatureStore",
    entity: str,
    ids: Sequence[int],
    features: Sequence[str],
    *,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """One row per id (in the order given), indexed by id; missing entities give NaN/None."""
    key = f"{entity}_id"
    when = as_of or datetime.now(UTC)
    rows = [{key: int(i), "as_of": when} for i in ids]
    response = store.get_online_features(features=list(features), entity_rows=rows).to_df()
    vectors = conform(response, features)
    vectors.index = pd.Index([int(i) for i in ids], name=key)
    return vectors
