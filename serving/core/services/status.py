"""Status machines: one check for every table of legal moves (leads, campaigns)."""

from collections.abc import Mapping
from enum import StrEnum

from serving.core.errors import IllegalTransition


def check_transition(
    moves: Mapping[StrEnum, frozenset[StrEnum]], current: StrEnum, new: StrEnum, noun: str
) -> bool:
    """True if `new` is a real move from `current`, False if it is no move; illegal raises."""
    if new == current:
        return False
    if new not in moves[current]:
        allowed = ", ".join(sorted(moves[current])) or "none (it is final)"
        raise IllegalTransition(
            f"a {noun} cannot go from {current.value} to {new.value}; allowed: {allowed}"
        )
    return True
