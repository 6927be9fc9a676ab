"""customer_profile: who each customer is, one row stamped at the customer's created_at.

The CRM keeps only the current profile, so the row carries today's values at the moment the
customer arrived; files are one per created_at day.
"""

import json
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.catalog import customer_profile
from features.pipelines.context import BuildContext
from features.pipelines.dayrows import count_days, day_ranges
from features.pipelines.days import day_of
from features.pipelines.schema import assemble

TABLE = customer_profile
_KINDS = {
    "id": "int",
    "segment": "str",
    "region": "str",
    "industry": "str",
    "company_size": "int",
    "timezone": "str",
    "consent_email": "bool",
    "consent_sms": "bool",
    "consent_push": "bool",
    "tags": "str",
    "created_at": "ts",
}
_SQL = (
    "SELECT id, segment, region, industry, company_size, timezone, consent_email, consent_sms,"
    " consent_push, CAST(tags AS TEXT) AS tags, created_at FROM customers WHERE created_at < :hi"
)


def build(ctx: BuildContext, first: int | None, last: int) -> Iterator[tuple[int, pa.Table]]:
    """Rows of the customers created on the days in [first, last] (first=None: all of them)."""
    sql, params = _SQL, {"hi": ctx.sources.param(last + 1)}
    if first is not None:
        sql += " AND created_at >= :lo"
        params["lo"] = ctx.sources.param(first)
    t = ctx.sources.fetch(sql, params, _KINDS)
    created = t.column("created_at").cast(pa.int64()).to_numpy()
    day = day_of(created)
    order = np.lexsort((t.column("id").to_numpy(), day))
    t, day, created = t.take(pa.array(order)), day[order], created[order]
    ctx.plan(count_days(day))
    for lo, hi in day_ranges(day) if len(day) else ():
        part = t.slice(lo, hi - lo)
        values = {c: part.column(c) for c in _KINDS if c not in ("id", "tags", "created_at")}
        values["company_size"] = pc.fill_null(part.column("company_size"), -1)
        values["tags"] = pa.array(_tags(part.column("tags").to_pylist()), pa.list_(pa.string()))
        values["customer_since"] = created[lo:hi]
        yield (
            int(day[lo]),
            assemble(TABLE, part.column("id").to_numpy(), created[lo:hi], ctx.created_us, values),
        )


def _tags(texts: list[str | None]) -> list[list[str]]:
    """CRM tags are a JSON list (NULL or malformed: no tags)."""
    out = []
    for text in texts:
        try:
            value = json.loads(text) if text else []
        except ValueError:
            value = []
        out.append([str(v) for v in value] if isinstance(value, list) else [])
    return out
