"""Customer bodies."""

from datetime import date, datetime
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, Field

from serving.api.schemas.common import ORMModel

_TIMEZONES = frozenset(available_timezones())


def _known_timezone(v: str) -> str:
    if v not in _TIMEZONES:
        raise ValueError(f"'{v}' is not an IANA time zone (e.g. Europe/Berlin)")
    return v


Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Name = Annotated[str, Field(max_length=200)]
Short = Annotated[str, Field(max_length=64)]
TimeZone = Annotated[str, AfterValidator(_known_timezone)]
Tags = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)]


class CustomerCreate(BaseModel):
    external_id: Short | None = None
    email: Email | None = None
    name: Name | None = None
    company: Name | None = None
    company_size: Annotated[int, Field(ge=0)] | None = None
    region: Short | None = None
    industry: Short | None = None
    segment: Short | None = None
    timezone: TimeZone = "UTC"
    birthday: date | None = None
    consent_email: bool = False
    consent_sms: bool = False
    consent_push: bool = False
    tags: Tags = Field(default_factory=list)


class CustomerUpdate(BaseModel):
    """Only the fields sent are changed (external_id is fixed once set)."""

    email: Email | None = None
    name: Name | None = None
    company: Name | None = None
    company_size: Annotated[int, Field(ge=0)] | None = None
    region: Short | None = None
    industry: Short | None = None
    segment: Short | None = None
    timezone: TimeZone | None = None
    birthday: date | None = None
    consent_email: bool | None = None
    consent_sms: bool | None = None
    consent_push: bool | None = None
    tags: Tags | None = None


class CustomerOut(CustomerCreate, ORMModel):
    id: int
    created_at: datetime
