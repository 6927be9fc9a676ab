"""PATCH semantics shared by every resource."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import inspect as sa_inspect

from serving.core.errors import Invalid


def apply_changes(obj: Any, changes: Mapping[str, Any]) -> None:
    """PATCH semantics: set what was sent; sending null for a required field is a 422."""
    columns = sa_inspect(type(obj)).columns
    for field, value in changes.items():
        if value is None and field in columns and not columns[field].nullable:
            raise Invalid(f"{field} cannot be null")
        setattr(obj, field, value)
