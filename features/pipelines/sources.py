"""Reading the sources: core DB tables into Arrow, and the Parquet event log through DuckDB.

DB rows go through the raw DBAPI cursor in batches straight into Arrow arrays: timestamps come
back from SQLite as text, which Arrow parses in C far faster than SQLAlchemy's per-value result
processors. The event log is read only for the date partitions a build needs, together with
the behaviour events ingested through the API (the core DB's `events` table).
"""

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from sqlalchemy import Engine, text

from features.pipelines.days import to_date, to_datetime, to_day
from features.pipelines.schema import TIMESTAMP, arrow_type
from serving.config import Settings
from serving.core.db import make_engine
from serving.core.models import Order

_FETCH_ROWS = 100_000
_EVENT_TYPES = ("session_start", "page_view", "email_open", "email_click")
# Every source timestamp column, for finding the last day with data.
_TIME_COLUMNS = {
    "customers": ("created_at",),
    "leads": ("created_at",),
    "orders": ("ordered_at",),
    "events": ("occurred_at",),
    "exposures": ("assigned_at", "sent_at", "opened_at", "clicked_at", "converted_at"),
}


class Sources:
    """The core DB and the event log of one deployment, with a count of the rows read."""

    def __init__(self, settings: Settings) -> None:
        self.engine: Engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
        self.event_log_dir = settings.event_log_dir
        self.rows_read = 0
        # the DB's own text form of a datetime parameter (SQLite compares timestamps as text)
        dialect = self.engine.dialect
        self._bind_ts = Order.__table__.c.ordered_at.type.dialect_impl(dialect).bind_processor(
            dialect
        )

    def close(self) -> None:
        self.engine.dispose()

    def param(self, day: int) -> Any:
        """Midnight UTC at the start of `day`, as the DB driver wants it in a comparison."""
        value = to_datetime(day)
        return self._bind_ts(value) if self._bind_ts else value

    def fetch(self, sql: str, params: Mapping[str, Any], kinds: Mapping[str, str]) -> pa.Table:
        """Run `sql` (":name" placeholders, columns in `kinds` order) into an Arrow table.

        `kinds` maps each selected column to a catalog kind (int, float, str, bool, ts).
        """
        schema = pa.schema([(name, arrow_type(kind)) for name, kind in kinds.items()])
        return pa.Table.from_batches(list(self.fetch_batches(sql, params, kinds)), schema=schema)

    def fetch_batches(
        self, sql: str, params: Mapping[str, Any], kinds: Mapping[str, str]
    ) -> Iterator[pa.RecordBatch]:
        """`fetch`, a batch at a time: for callers that keep less than the whole result."""
        for rows in self._rows(sql, params):
            self.rows_read += len(rows)
            yield _to_batch(rows, kinds)

    def _rows(self, sql: str, params: Mapping[str, Any]) -> Iterator[list[tuple[Any, ...]]]:
        if self.engine.dialect.paramstyle == "pyformat":  # psycopg
            sql = re.sub(
                r":([A-Za-z_]\w*)",
                lambda m: f"%({m[1]})s" if m[1] in params else m[0],
                sql,
            )
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None  # an open Connection always has its DBAPI connection
            cur = raw.cursor()
            try:
                cur.execute(sql, dict(params))
                while rows := cur.fetchmany(_FETCH_ROWS):
                    yield rows
            finally:
                cur.close()

    def last_day(self) -> int | None:
        """The last UTC day any source has data for (None when there is none at all)."""
        days = [to_day(d) for d in self.event_log_dates()]
        with self.engine.connect() as conn:
            for table, columns in _TIME_COLUMNS.items():
                maxes = ", ".join(f"max({c})" for c in columns)
                for value in conn.execute(text(f"SELECT {maxes} FROM {table}")).one():
                    if value is not None:
                        days.append(to_day(_parse_ts(value).date()))
        return max(days) if days else None

    def event_log_dates(self) -> list[date]:
        """The days the event log has a partition for, in order."""
        if not self.event_log_dir.is_dir():
            return []
        out = []
        for folder in self.event_log_dir.glob("date=*"):
            try:
                out.append(date.fromisoformat(folder.name.removeprefix("date=")))
            except ValueError:
                continue
        return sorted(out)

    def event_log_files(self, first_day: int | None, last_day: int) -> list[Path]:
        """The Parquet files of the partitions from `first_day` (None: the first) to `last_day`."""
        lo = None if first_day is None else to_date(first_day)
        hi = to_date(last_day)
        return [
            f
            for d in self.event_log_dates()
            if (lo is None or d >= lo) and d <= hi
            for f in sorted((self.event_log_dir / f"date={d.isoformat()}").glob("*.parquet"))
        ]

    def db_events(self, first_day: int | None, last_day: int) -> pa.Table:
        """Behaviour events sent through the API, with the event log's column names."""
        where = "occurred_at < :hi" + ("" if first_day is None else " AND occurred_at >= :lo")
        params = {"hi": self.param(last_day + 1)}
        if first_day is not None:
            params["lo"] = self.param(first_day)
        types = ", ".join(f"'{t}'" for t in _EVENT_TYPES)
        return self.fetch(
            f"SELECT customer_id, occurred_at, type, page FROM events"
            f" WHERE type IN ({types}) AND {where}",
            params,
            {"customer_id": "int", "occurred_at": "ts", "type": "str", "page": "str"},
        )

    @contextmanager
    def behaviour_events(
        self, first_day: int | None, last_day: int
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection with a view `ev` (customer_id, us, type, page): the counted event
        types (sessions, page views, opens, clicks) from the log and the DB, in the day range.
        `us` is epoch microseconds."""
        con = duckdb.connect()
        try:
            con.execute("SET enable_progress_bar = false")  # it would print to stdout
            parts = []
            lo = "" if first_day is None else f" AND us >= {int(first_day) * 86_400_000_000}"
            hi = (int(last_day) + 1) * 86_400_000_000
            types = ", ".join(f"'{t}'" for t in _EVENT_TYPES)
            files = self.event_log_files(first_day, last_day)
            if files:
                listed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
                log = f"read_parquet([{listed}], hive_partitioning = true)"
                self.rows_read += con.execute(f"SELECT count(*) FROM {log}").fetchall()[0][0]
                parts.append(
                    f"SELECT * FROM (SELECT customer_id, epoch_us(occurred_at) AS us, type, page"
                    f" FROM {log}) WHERE type IN ({types}) AND us < {hi}{lo}"
                )
            api = self.db_events(first_day, last_day)
            if api.num_rows:
                api = api.set_column(1, "us", api.column("occurred_at").cast(pa.int64()))
                con.register("api_events", api)
                parts.append("SELECT customer_id, us, type, page FROM api_events")
            if not parts:
                parts.append(
                    "SELECT NULL::BIGINT AS customer_id, NULL::BIGINT AS us,"
                    " NULL::VARCHAR AS type, NULL::VARCHAR AS page WHERE false"
                )
            con.execute("CREATE TEMP VIEW ev AS " + " UNION ALL ".join(parts))
            yield con
        finally:
            con.close()


def _parse_ts(value: Any) -> datetime:
    """A driver's timestamp as an aware UTC datetime (SQLite's text has no zone: it is UTC)."""
    ts = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _to_batch(rows: Sequence[tuple[Any, ...]], kinds: Mapping[str, str]) -> pa.RecordBatch:
    grid = np.empty((len(rows), len(kinds)), dtype=object)
    try:
        grid[:] = rows  # one C-level pass; far faster than zip(*rows)
    except ValueError:  # a value that is itself a sequence
        for i, column in enumerate(zip(*rows, strict=True)):
            grid[:, i] = column
    arrays = [_to_array(grid[:, i], kind) for i, kind in enumerate(kinds.values())]
    return pa.RecordBatch.from_arrays(arrays, names=list(kinds))


def _to_array(values: np.ndarray, kind: str) -> pa.Array:
    if kind == "ts":
        return _timestamps(values)
    if kind == "bool":
        try:
            return pa.array(values, pa.bool_())
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # SQLite hands booleans back as 0/1
            return pa.array(values, pa.int64()).cast(pa.bool_())
    return pa.array(values, arrow_type(kind))


def _timestamps(values: np.ndarray) -> pa.Array:
    """Driver timestamps (text from SQLite, aware datetimes from PostgreSQL) as UTC microseconds.

    SQLAlchemy stores UTC without a zone on SQLite ("2026-05-16 17:27:43.458311"); text that
    carries an offset is converted to UTC instead.
    """
    first = next((v for v in values if v is not None), None)
    if not isinstance(first, str):
        return pa.array(values, TIMESTAMP)
    strings = pa.array(values, pa.string())
    try:
        return strings.cast(pa.timestamp("us")).cast(TIMESTAMP)
    except pa.ArrowInvalid:
        return strings.cast(TIMESTAMP)
