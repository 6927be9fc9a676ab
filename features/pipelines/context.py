"""What every table's builder gets: the sources, the run's timestamp, and a progress hook."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from features.pipelines.sources import Sources


@dataclass
class BuildContext:
    sources: Sources
    created_us: int  # the run's timestamp: the `created` of every row it writes
    plan: Callable[[int], None] = lambda days: None  # told how many days are about to be built
    cache: dict[str, Any] = field(default_factory=dict)  # source reads shared by tables
