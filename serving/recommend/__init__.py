"""Recommendation services behind /v1/recommendations: send time and next-best-action."""
