"""Feature pipelines: the dated Parquet feature tables the Feast repository reads.

    summary = build_features(settings)                    # every table, from scratch
    summary = build_features(settings, incremental=True)  # only the days since the last build

One module per table family - profile, behaviour, orders, campaigns (campaign response and
send time), leads - on shared helpers: sources (core DB and event log reads), sliding (window
sums swept day by day), rolling (window sums from prefix sums), running (totals to date),
dayrows (cutting rows into days), schema (Arrow types from the catalog) and output (day files
and _state.json); build ties them together. No Feast import here.
"""

from features.pipelines.build import BuildSummary, TableSummary, build_features

__all__ = ["BuildSummary", "TableSummary", "build_features"]
