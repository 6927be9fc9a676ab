"""Every model `lodestar train` knows beyond the three scored ones, by registered name."""

from collections.abc import Callable

from serving.config import Settings


def other_trainers(settings: Settings, *, seed: int = 0) -> dict[str, Callable[[], object]]:
    """send_time, next_best_action and uplift: each call trains, logs to MLflow and runs its
    gate. Uplift runs as `lodestar train uplift` does by default (the latest 30% of finished
    promotions held out), so its gate compares models on the same campaigns either way; about
    2 minutes on the default world."""
    from training.nba import train_nba
    from training.send_time import train_send_time
    from training.uplift import train_uplift_campaign

    return {
        "send_time": lambda: train_send_time(settings),
        "next_best_action": lambda: train_nba(settings, seed=seed),
        "uplift": lambda: train_uplift_campaign(settings, seed=seed),
    }
