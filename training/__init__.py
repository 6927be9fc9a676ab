"""Training pipelines: labels from the core DB, features from Feast, fit, evaluate, MLflow."""
