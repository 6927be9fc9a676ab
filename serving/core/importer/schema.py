"""The columns of each import file: name, type, required or default.

This is the one place the file formats are defined; the README's import section describes the
same tables for people. Text limits match the database columns, so an over-long value is a row
rejection with a message rather than a failed transaction.
"""

from dataclasses import dataclass
from typing import Any

from serving.core.importer.fields import (
    Boolean,
    Choice,
    Date,
    Email,
    Field,
    Integer,
    JsonObject,
    Money,
    Tags,
    Text,
    Timestamp,
    TimeZone,
)
from serving.core.models import EventType, LeadSource, LeadStatus
from serving.core.models.base import utcnow


@dataclass(frozen=True)
class Column:
    name: str
    field: Field
    required: bool = False
    # A value, or a callable called once per row (so each row gets its own list or timestamp).
    default: Any = None


@dataclass(frozen=True)
class Schema:
    kind: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


# customers.csv: one row per customer; customer_id is your id, stored as customers.external_id.
customers_schema = Schema(
    "customers",
    (
        Column("customer_id", Text(64), required=True),
        Column("email", Email()),
        Column("name", Text(200)),
        Column("company", Text(200)),
        Column("company_size", Integer(minimum=0)),
        Column("region", Text(64)),
        Column("industry", Text(64)),
        Column("segment", Text(64)),
        Column("timezone", TimeZone(), default="UTC"),
        Column("birthday", Date()),
        Column("consent_email", Boolean(), default=False),
        Column("consent_sms", Boolean(), default=False),
        Column("consent_push", Boolean(), default=False),
        Column("tags", Tags(), default=list),
        Column("created_at", Timestamp(), default=utcnow),
    ),
)

# orders.csv: order_id is your id (orders.external_id); customer_id is your customer id.
orders_schema = Schema(
    "orders",
    (
        Column("order_id", Text(64), required=True),
        Column("customer_id", Text(64), required=True),
        Column("ordered_at", Timestamp(), required=True),
        Column("amount", Money(), required=True),
        Column("items", Integer(minimum=1), default=1),
        Column("channel", Text(32)),
        Column("coupon_code", Text(32)),
    ),
)

# events.csv: behaviour events; campaign_id is a Lodestar campaign id.
events_schema = Schema(
    "events",
    (
        Column("customer_id", Text(64), required=True),
        Column("occurred_at", Timestamp(), required=True),
        Column("type", Choice(EventType), required=True),
        Column("page", Text(64)),
        Column("channel", Text(32)),
        Column("campaign_id", Integer(minimum=1)),
        Column("properties", JsonObject()),
    ),
)

# leads.csv: without owner_email the assignment rules pick the owner.
leads_schema = Schema(
    "leads",
    (
        Column("customer_id", Text(64), required=True),
        Column("source", Choice(LeadSource), required=True),
        Column("created_at", Timestamp(), default=utcnow),
        Column("status", Choice(LeadStatus), default=LeadStatus.new),
        Column("owner_email", Email()),
        Column("notes", Text(2000)),
    ),
)

# Also the load order: the other files refer to customers.
SCHEMAS = {s.kind: s for s in (customers_schema, orders_schema, events_schema, leads_schema)}
