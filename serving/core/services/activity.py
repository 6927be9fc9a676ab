"""Append-only ingest of orders and events: a batch is stored whole or not at all."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from serving.core.errors import Conflict, Invalid
from serving.core.models import Campaign, Customer, Event, Order


def _missing(session: Session, column: Any, ids: set[int]) -> list[int]:
    if not ids:
        return []
    found = set(session.scalars(select(column).where(column.in_(ids))))
    return sorted(ids - found)


def _check_references(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    for name, column, key in (
        ("customer", Customer.id, "customer_id"),
        ("campaign", Campaign.id, "campaign_id"),
    ):
        missing = _missing(session, column, {r[key] for r in rows if r.get(key) is not None})
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
            raise Invalid(f"unknown {name} id(s): {shown}; nothing was stored")


def ingest_orders(*, session: Session, orders: Sequence[dict[str, Any]]) -> int:
    _check_references(session, orders)
    ext = [o["external_id"] for o in orders if o.get("external_id")]
    if len(ext) != len(set(ext)):
        raise Invalid("the batch repeats an external_id; nothing was stored")
    dupes = sorted(session.scalars(select(Order.external_id).where(Order.external_id.in_(ext))))
    if dupes:
        raise Conflict(f"order(s) already stored: {', '.join(dupes[:10])}; nothing was stored")
    session.execute(insert(Order), list(orders))
    session.commit()
    return len(orders)


def ingest_events(*, session: Session, events: Sequence[dict[str, Any]]) -> int:
    _check_references(session, events)
    session.execute(insert(Event), list(events))
    session.commit()
    return len(events)
