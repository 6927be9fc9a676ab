"""Training sets from the offline store, point-in-time correct.

Feast joins, for each entity row, the latest feature row with `event_timestamp` at or before the
row's time and within the view's TTL (features/catalog.py sets them), so no value stamped after
a label's time can reach that label's row. We add `as_of` (the row's time) for the on-demand
recencies, and hand rows back in the caller's order (Feast does not keep it).
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from features.vectors import conform

if TYPE_CHECKING:
    from feast import FeatureStore

_ROW = "__lodestar_row__"


def training_set(
    store: "FeatureStore", entity_df: pd.DataFrame, features: Sequence[str]
) -> pd.DataFrame:
    """`entity_df` (keys + `event_timestamp`, any label columns) with the features appended."""
    if "event_timestamp" not in entity_df.columns:
        raise ValueError("entity_df needs an event_timestamp column (the label's time)")
    if entity_df.empty:
        raise ValueError("entity_df is empty")
    request = entity_df.copy()
    request["event_timestamp"] = pd.to_datetime(request["event_timestamp"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    request["as_of"] = request["event_timestamp"]
    request[_ROW] = range(len(request))
    keys = [c for c in request.columns if c.endswith("_id")]
    job = store.get_historical_features(
        entity_df=request[[*keys, "event_timestamp", "as_of", _ROW]], features=list(features)
    )
    got = job.to_df().sort_values(_ROW).set_index(_ROW)
    vectors = conform(got, features)
    vectors.index = entity_df.index[got.index.to_numpy()]
    return pd.concat([entity_df, vectors.reindex(entity_df.index)], axis=1)
