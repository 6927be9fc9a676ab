"""Estimators, pure: fit/predict on DataFrames, no I/O. Training pipelines live in training/."""
