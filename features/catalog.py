"""Every feature table and column, in one place, with no Feast import.

The pipelines (features/pipelines/) write exactly these columns; the Feast repository
(features/repo/) declares its feature views from them; training and serving read them by these
names. A table has one row per entity per day its values changed: `event_timestamp` is the end of
that UTC day (the next midnight), when the day's data is complete, and `created` is when the row
was computed (Feast keeps the latest `created` among rows with the same event_timestamp).

Kinds map to Feast types in features/repo/: int → Int64, float → Float64, str → String,
bool → Bool, ts → UnixTimestamp (whole seconds, UTC: Feast's online store keeps no finer), ints →
Array(Int64), strs → Array(String).
"""

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    description: str


@dataclass(frozen=True)
class Table:
    name: str  # also the feature view's name
    entity: str  # "customer" or "lead"
    ttl: timedelta  # how far back a point-in-time join may look for a row
    description: str
    columns: tuple[Column, ...]
    windows: tuple[int, ...] = ()  # rolling windows in days: a row is due when one changes

    @property
    def key(self) -> str:
        return f"{self.entity}_id"

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


BEHAVIOUR_WINDOWS = (1, 7, 30, 90)
ORDER_WINDOWS = (30, 90, 365)
HOURS_OF_WEEK = 168  # 0 = Monday 00:00–01:00 UTC

_BEHAVIOUR_COUNTS = {
    "sessions": "sessions started",
    "page_views": "pages viewed",
    "pricing_views": "views of the pricing page",
    "product_views": "views of product pages",
    "email_opens": "e-mails opened",
    "email_clicks": "e-mail links clicked",
}

customer_profile = Table(
    name="customer_profile",
    entity="customer",
    ttl=timedelta(days=3650),
    description="CRM profile: who the customer is and what they consented to.",
    columns=(
        Column("segment", "str", "smb, mid_market, enterprise or consumer"),
        Column("region", "str", "sales region (NA, EMEA, APAC, LATAM)"),
        Column("industry", "str", "industry of the customer's company"),
        Column("company_size", "int", "employees; -1 when unknown (consumers)"),
        Column("timezone", "str", "IANA time zone of the customer"),
        Column("consent_email", "bool", "may receive e-mail"),
        Column("consent_sms", "bool", "may receive SMS"),
        Column("consent_push", "bool", "may receive push notifications"),
        Column("tags", "strs", "CRM tags"),
        Column("customer_since", "ts", "when the customer record was created"),
    ),
)

customer_behaviour = Table(
    name="customer_behaviour",
    entity="customer",
    ttl=timedelta(days=120),
    description="Web and e-mail behaviour over rolling 1/7/30/90-day windows ending that day.",
    windows=BEHAVIOUR_WINDOWS,
    columns=tuple(
        Column(f"{metric}_{w}d", "int", f"{text} in the last {w} day{'s' if w > 1 else ''}")
        for metric, text in _BEHAVIOUR_COUNTS.items()
        for w in BEHAVIOUR_WINDOWS
    )
    + (Column("last_activity_at", "ts", "last session, page view, open or click"),),
)

customer_orders = Table(
    name="customer_orders",
    entity="customer",
    ttl=timedelta(days=400),
    description="Orders: recency, frequency and monetary value over 30/90/365 days and lifetime.",
    windows=ORDER_WINDOWS,
    columns=tuple(
        c
        for w in ORDER_WINDOWS
        for c in (
            Column(f"orders_{w}d", "int", f"orders in the last {w} days"),
            Column(f"revenue_{w}d", "float", f"amount paid in the last {w} days"),
        )
    )
    + (
        Column("orders_total", "int", "orders ever"),
        Column("revenue_total", "float", "amount paid ever"),
        Column("avg_order_value", "float", "revenue_total / orders_total"),
        Column("coupon_use_rate", "float", "share of orders that used a coupon"),
        Column("first_order_at", "ts", "first order"),
        Column("last_order_at", "ts", "latest order"),
    ),
)

_CHANNELS = ("email", "sms", "push")
customer_campaign_response = Table(
    name="customer_campaign_response",
    entity="customer",
    ttl=timedelta(days=3650),
    description="Campaign history to date, per channel: what was sent and how they responded.",
    columns=tuple(
        Column(f"{ch}_{what}", "int", f"{ch} campaign messages {verb} to date")
        for ch in _CHANNELS
        for what, verb in (
            ("sends", "sent"),
            ("opens", "opened"),
            ("clicks", "clicked"),
            ("conversions", "followed by a conversion"),
        )
    )
    + (
        Column("holdout_count", "int", "campaigns where the customer was in the holdout"),
        Column("last_open_at", "ts", "latest campaign message opened"),
    ),
)

customer_send_time = Table(
    name="customer_send_time",
    entity="customer",
    ttl=timedelta(days=3650),
    description="E-mail sends and opens to date by UTC hour-of-week of the send (168 buckets).",
    columns=(
        Column("sends_by_how", "ints", "e-mails sent, by UTC hour-of-week of the send"),
        Column("opens_by_how", "ints", "of those, opened, by UTC hour-of-week of the send"),
    ),
)

lead_activity = Table(
    name="lead_activity",
    entity="lead",
    ttl=timedelta(days=3650),
    description="The lead and its company; what the customer did in the 30 days up to the lead's "
    "arrival (to the second) and since.",
    columns=(
        Column("customer_id", "int", "the customer the lead belongs to"),
        Column("source", "str", "channel the lead came from"),
        Column("segment", "str", "customer segment"),
        Column("region", "str", "customer region"),
        Column("industry", "str", "customer industry"),
        Column("company_size", "int", "employees; -1 when unknown"),
        Column("lead_created_at", "ts", "when the lead arrived"),
        *(
            Column(f"{what}_{w}d_before", "int", f"{text} in the {w} days before the lead arrived")
            for what, w, text in (
                ("pricing_views", 7, "pricing page views"),
                ("pricing_views", 30, "pricing page views"),
                ("product_views", 30, "product page views"),
                ("docs_views", 30, "documentation page views"),
                ("sessions", 30, "sessions"),
                ("email_opens", 30, "e-mails opened"),
                ("email_clicks", 30, "e-mail links clicked"),
            )
        ),
        Column("touches", "int", "sessions, opens and clicks since the lead arrived"),
        Column("pricing_views_since_created", "int", "pricing page views since the lead arrived"),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        customer_profile,
        customer_behaviour,
        customer_orders,
        customer_campaign_response,
        customer_send_time,
        lead_activity,
    )
}
