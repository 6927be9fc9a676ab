"""The feature store: Feast definitions over dated Parquet feature tables built from the core DB
and the event log. Training reads it offline (point-in-time), serving online."""
