"""Every model `lodestar train` knows beyond the three scored ones, by registered name."""

from collections.abc import Callable

from serving.config import Settings


def other_trainers(settings: Settings, *, seed: int = 0) -> dict[str, Callable[[], object]]:
    """send_time and next_best_action: each call trains, logs to MLflow and runs its gate."""
    from training.nba import train_nba
    from training.send_time import train_send_time

    return {
        "send_time": lambda: train_send_time(settings),
        "next_best_action": lambda: train_nba(settings, seed=seed),
    }
