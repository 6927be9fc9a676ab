"""Shapes shared by every resource: pages of results and sort parsing."""

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict

from serving.core.errors import Invalid

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a timezone, e.g. 2026-10-01T09:30:00Z")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


def order_by(sort: str, allowed: Mapping[str, Any]) -> Any:
    """`-score` → `score DESC NULLS LAST`. An unknown field is a clear 422, not a silent default."""
    name = sort.lstrip("-+")
    if name not in allowed:
        raise Invalid(f"cannot sort by '{name}'; use one of: {', '.join(sorted(allowed))}")
    column = allowed[name]
    return (column.desc() if sort.startswith("-") else column.asc()).nulls_last()
