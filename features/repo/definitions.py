"""Feast objects for the feature store, declared from the catalog.

Built by a function rather than at import time because the sources' paths come from settings
(`LODESTAR_DATA_DIR`); `lodestar features apply` registers what `definitions()` returns.
"""

from dataclasses import dataclass
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource
from feast.data_format import ParquetFormat
from feast.on_demand_feature_view import OnDemandFeatureView, on_demand_feature_view
from feast.types import Array, Bool, FeastType, Float64, Int64, String, UnixTimestamp
from feast.value_type import ValueType

from features.catalog import TABLES, Table

KIND_TO_FEAST: dict[str, FeastType] = {
    "int": Int64,
    "float": Float64,
    "str": String,
    "bool": Bool,
    "ts": UnixTimestamp,
    "ints": Array(Int64),
    "strs": Array(String),
}

# The people and deals everything is about.
customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.INT64,
    description="a CRM customer (customers.id)",
)
lead = Entity(
    name="lead",
    join_keys=["lead_id"],
    value_type=ValueType.INT64,
    description="a sales lead (leads.id)",
)
ENTITIES = {"customer": customer, "lead": lead}

# When the caller asks: training passes each label's time, serving passes now.
request_time = RequestSource(
    name="request_time",
    schema=[Field(name="as_of", dtype=UnixTimestamp, description="the time features are for")],
    description="the moment the features are wanted for",
)


@dataclass(frozen=True)
class Definitions:
    entities: list[Entity]
    sources: dict[str, FileSource]
    views: dict[str, FeatureView]
    on_demand: dict[str, OnDemandFeatureView]
    services: dict[str, FeatureService]

    def objects(self) -> list[object]:
        return [
            *self.entities,
            request_time,
            *self.sources.values(),
            *self.views.values(),
            *self.on_demand.values(),
            *self.services.values(),
        ]


def table_path(features_dir: Path, table: Table) -> Path:
    return features_dir / table.name


def source_for(features_dir: Path, table: Table) -> FileSource:
    return FileSource(
        name=f"{table.name}_source",
        # DuckDB reads every dated file through the glob.
        path=str(table_path(features_dir, table) / "*.parquet"),
        file_format=ParquetFormat(),
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
        description=f"dated Parquet rows of {table.name} (features/pipelines)",
    )


def view_for(table: Table, source: FileSource) -> FeatureView:
    return FeatureView(
        name=table.name,
        entities=[ENTITIES[table.entity]],
        ttl=table.ttl,
        schema=[
            Field(name=c.name, dtype=KIND_TO_FEAST[c.kind], description=c.description)
            for c in table.columns
        ],
        source=source,
        online=True,
        description=table.description,
    )


# On-demand features: name → description. Feast 0.67 checks a declared on-demand field against
# one inferred by running the function, description included, so the fields carry no description
# of their own; the view's description lists them instead.
RECENCY = {
    "tenure_days": "days a customer so far",
    "days_since_last_activity": "days since the last session, page view, open or click",
    "days_since_last_order": "recency: days since the latest order",
    "days_since_first_order": "days since the first order",
    "days_since_last_open": "days since a campaign message was last opened",
    "order_rate_90d": "orders per 90 days over the last year, or over the tenure when shorter "
    "(at least 14 days)",
}
LEAD_AGE = {"lead_age_days": "days since the lead arrived"}


def _described(features: dict[str, str], why: str) -> str:
    return why + " " + "; ".join(f"{k}: {v}" for k, v in features.items())


def _on_demand(views: dict[str, FeatureView]) -> dict[str, OnDemandFeatureView]:
    @on_demand_feature_view(
        # projections: only the timestamps the function reads
        sources=[
            views["customer_profile"][["customer_since"]],
            views["customer_behaviour"][["last_activity_at"]],
            views["customer_orders"][["first_order_at", "last_order_at", "orders_365d"]],
            views["customer_campaign_response"][["last_open_at"]],
            request_time,
        ],
        schema=[Field(name=n, dtype=Float64) for n in RECENCY],
        mode="python",
        description=_described(
            RECENCY,
            "Recencies and the order rate as of the request time, which stored rows cannot know.",
        ),
    )
    def customer_recency(inputs: dict[str, list]) -> dict[str, list]:
        # Self-contained: Feast stores this function's source and runs it without our module.
        # Python mode (lists in, lists out) is what the serving read can call in microseconds.
        from datetime import UTC

        def days(later, earlier):  # type: ignore[no-untyped-def]
            if later is None or earlier is None:
                return None
            later = later if later.tzinfo else later.replace(tzinfo=UTC)
            earlier = earlier if earlier.tzinfo else earlier.replace(tzinfo=UTC)
            return (later - earlier).total_seconds() / 86_400

        columns = {
            "tenure_days": "customer_since",
            "days_since_last_activity": "last_activity_at",
            "days_since_last_order": "last_order_at",
            "days_since_first_order": "first_order_at",
            "days_since_last_open": "last_open_at",
        }
        out = {
            name: [days(t, e) for t, e in zip(inputs["as_of"], inputs[col], strict=True)]
            for name, col in columns.items()
        }

        def rate(orders, tenure):  # type: ignore[no-untyped-def]
            # A purchase rate, not a count: 3 orders mean little after 3 years, a lot after 3
            # weeks. No stored row (no order within the view's TTL) counts as 0 orders.
            if tenure is None:
                return None
            return (orders or 0) / max(min(tenure, 365.0), 14.0) * 90.0

        out["order_rate_90d"] = [
            rate(n, d) for n, d in zip(inputs["orders_365d"], out["tenure_days"], strict=True)
        ]
        return out

    @on_demand_feature_view(
        sources=[views["lead_activity"][["lead_created_at"]], request_time],
        schema=[Field(name=n, dtype=Float64) for n in LEAD_AGE],
        mode="python",
        description=_described(LEAD_AGE, "The lead's age as of the request time."),
    )
    def lead_age(inputs: dict[str, list]) -> dict[str, list]:
        from datetime import UTC

        def days(later, earlier):  # type: ignore[no-untyped-def]
            if later is None or earlier is None:
                return None
            later = later if later.tzinfo else later.replace(tzinfo=UTC)
            earlier = earlier if earlier.tzinfo else earlier.replace(tzinfo=UTC)
            return (later - earlier).total_seconds() / 86_400

        return {
            "lead_age_days": [
                days(t, e) for t, e in zip(inputs["as_of"], inputs["lead_created_at"], strict=True)
            ]
        }

    return {"customer_recency": customer_recency, "lead_age": lead_age}


def definitions(features_dir: Path) -> Definitions:
    sources = {name: source_for(features_dir, t) for name, t in TABLES.items()}
    views = {name: view_for(t, sources[name]) for name, t in TABLES.items()}
    on_demand = _on_demand(views)
    # One service for everything about a customer: the serving read's default.
    services = {
        "customer_all": FeatureService(
            name="customer_all",
            features=[v for v in views.values() if v.entities == ["customer"]]
            + [on_demand["customer_recency"]],
            description="every customer feature",
        ),
    }
    return Definitions(list(ENTITIES.values()), sources, views, on_demand, services)
