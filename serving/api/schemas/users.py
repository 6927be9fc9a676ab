"""User bodies."""

from datetime import datetime

from pydantic import BaseModel, Field

from serving.api.schemas.common import ORMModel
from serving.api.schemas.customers import Email
from serving.core.models import Role


class UserCreate(BaseModel):
    email: Email
    name: str = Field(min_length=1, max_length=200)
    role: Role
    region: str | None = Field(default=None, max_length=64)
    industry: str | None = Field(default=None, max_length=64)


class UserOut(ORMModel):
    id: int
    email: str
    name: str
    role: Role
    region: str | None
    industry: str | None
    is_active: bool
    created_at: datetime


class UserCreated(UserOut):
    api_key: str = Field(description="shown once; only its hash is stored")
