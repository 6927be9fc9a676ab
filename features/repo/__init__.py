"""The Feast feature repository: entities, sources, feature views and services, declared from
features/catalog.py. `feature_store.yaml` beside this file is rendered from settings."""
