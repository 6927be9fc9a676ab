"""What the database already holds that the checks need: ids, users, existing events and leads.

Each query asks only about the values the files mention, in chunks small enough for any
database's limit on bound parameters.
"""

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.core.models import Campaign, Customer, Event, Lead, Order, Role, User

CHUNK = 500
T = TypeVar("T")

# The fields that make two events the same event (there is no event id to compare).
EventKey = tuple[int, datetime, str, str | None, str | None, int | None, str | None]
LeadKey = tuple[int, str, datetime]


def _chunks(values: Iterable[T]) -> Iterator[list[T]]:
    chunk: list[T] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def customer_ids(session: Session, external_ids: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(set(external_ids)):
        rows = session.execute(
            select(Customer.external_id, Customer.id).where(Customer.external_id.in_(chunk))
        )
        found.update({external_id: id_ for external_id, id_ in rows if external_id is not None})
    return found


def order_ids(session: Session, external_ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(set(external_ids)):
        found.update(session.scalars(select(Order.external_id).where(Order.external_id.in_(chunk))))
    return found


def campaign_ids(session: Session, ids: Iterable[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(set(ids)):
        found.update(session.scalars(select(Campaign.id).where(Campaign.id.in_(chunk))))
    return found


@dataclass(frozen=True)
class Owner:
    id: int
    email: str
    role: Role
    is_active: bool

    def problem(self) -> str | None:
        if self.role != Role.sales_rep:
            return f"owner_email '{self.email}' is a {self.role.value}, not a sales rep"
        if not self.is_active:
            return f"owner_email '{self.email}' is a deactivated user"
        return None


def users_by_email(session: Session, emails: Iterable[str]) -> dict[str, Owner]:
    """Keyed by lower-case e-mail: people do not type addresses with consistent case."""
    found: dict[str, Owner] = {}
    for chunk in _chunks({e.lower() for e in emails}):
        rows = session.execute(
            select(User.id, User.email, User.role, User.is_active).where(
                func.lower(User.email).in_(chunk)
            )
        )
        found.update(
            {email.lower(): Owner(id_, email, role, active) for id_, email, role, active in rows}
        )
    return found


def properties_key(properties: dict[str, Any] | None) -> str | None:
    return None if properties is None else json.dumps(properties, sort_keys=True, default=str)


def event_keys(
    session: Session, customer_ids: Sequence[int], start: datetime, end: datetime
) -> set[EventKey]:
    """Events of these customers between start and end, as comparable keys."""
    found: set[EventKey] = set()
    for chunk in _chunks(sorted(set(customer_ids))):
        rows = session.execute(
            select(
                Event.customer_id,
                Event.occurred_at,
                Event.type,
                Event.page,
                Event.channel,
                Event.campaign_id,
                Event.properties,
            ).where(Event.customer_id.in_(chunk), Event.occurred_at.between(start, end))
        )
        found.update(
            (c, at, t.value, page, channel, campaign, properties_key(props))
            for c, at, t, page, channel, campaign, props in rows
        )
    return found


def lead_keys(
    session: Session, customer_ids: Sequence[int], start: datetime, end: datetime
) -> set[LeadKey]:
    found: set[LeadKey] = set()
    for chunk in _chunks(sorted(set(customer_ids))):
        rows = session.execute(
            select(Lead.customer_id, Lead.source, Lead.created_at).where(
                Lead.customer_id.in_(chunk), Lead.created_at.between(start, end)
            )
        )
        found.update((c, source.value, at) for c, source, at in rows)
    return found
