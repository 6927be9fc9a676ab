"""`lodestar score leads`: the nightly job that writes champion scores onto open leads."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from serving.config import Settings


@dataclass(frozen=True)
class ScoreLeadsSummary:
    scored: int
    model_version: str | None
    seconds: float
    grades: dict[str, int]

    def __str__(self) -> str:
        if self.model_version is None:
            return "no lead_scoring champion registered: run `lodestar train lead_scoring`"
        g = ", ".join(f"{k} {v:,}" for k, v in sorted(self.grades.items()))
        return (
            f"scored {self.scored:,} open leads with {self.model_version} in "
            f"{self.seconds:.1f} s ({g})"
        )


def score_open_leads(settings: Settings, *, batch: int = 500) -> ScoreLeadsSummary:
    from serving.core.db import make_engine, make_sessionmaker
    from serving.core.models import Lead
    from serving.core.services.leads import OPEN_STATUSES
    from serving.scoring import ModelCache, Scorer

    t0 = time.perf_counter()
    model = ModelCache(settings).get("lead_scoring")
    if model is None:
        return ScoreLeadsSummary(0, None, 0.0, {})
    scorer = Scorer(settings, model)
    engine = make_engine(settings.database_url)
    grades: dict[str, int] = {}
    scored = 0
    try:
        with make_sessionmaker(engine)() as s:
            rows = s.execute(
                select(Lead.id, Lead.customer_id)
                .where(Lead.status.in_(OPEN_STATUSES))
                .order_by(Lead.id)
            ).all()
        write = make_sessionmaker(engine, write=True)
        now = datetime.now(UTC)
        for i in range(0, len(rows), batch):
            part = rows[i : i + batch]
            scores = scorer.score([r[0] for r in part], [r[1] for r in part], as_of=now)
            with write() as s:
                for sc in scores:
                    s.execute(
                        update(Lead)
                        .where(Lead.id == sc.entity_id)
                        .values(
                            score=sc.score,
                            grade=sc.grade,
                            score_reasons=sc.reasons,
                            model_version=sc.model_version,
                            scored_at=now,
                        )
                    )
                    grades[sc.grade] = grades.get(sc.grade, 0) + 1
                s.commit()
            scored += len(scores)
    finally:
        engine.dispose()
    return ScoreLeadsSummary(scored, model.label, time.perf_counter() - t0, grades)
