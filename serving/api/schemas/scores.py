"""Score and model bodies."""

from typing import Any

from pydantic import BaseModel, Field

MAX_IDS = 1_000


class ScoreRequest(BaseModel):
    ids: list[int] = Field(
        min_length=1,
        max_length=MAX_IDS,
        description="lead ids for lead_scoring, customer ids for conversion and churn; "
        f"1 to {MAX_IDS:,} (repeats are scored once)",
    )
    explain: bool = Field(default=False, description="add the top reasons up and down")


class ScoreOut(BaseModel):
    id: int
    probability: float
    score: float = Field(description="0–100")
    grade: str = Field(description="A (highest) to D")
    reasons: list[dict[str, Any]] | None = Field(
        default=None, description="with explain=true: TreeSHAP contributions in words"
    )
    missing_features: list[str] = Field(
        default_factory=list, description="features the online store had no value for"
    )


class NotScored(BaseModel):
    id: int
    reason: str


class ScoreResponse(BaseModel):
    model: str
    model_version: str = Field(description="the registry version that produced every score")
    request_id: str = Field(description="finds these rows in the prediction log")
    scores: list[ScoreOut]
    not_scored: list[NotScored] = Field(
        description="ids that do not exist (or that you may not see) and ids without features"
    )


class ModelState(BaseModel):
    model: str
    loaded_version: str | None = Field(description="what this API process serves now")
    champion_version: str | None = Field(description="what the registry's @champion points to")


class ReloadOut(BaseModel):
    model: str
    before: str | None
    after: str | None
    changed: bool
