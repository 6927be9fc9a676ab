"""Where the simulated world goes: bulk inserts into the core DB, and Parquet files.

The DB gets SQLAlchemy Core `insert()` executemany batches, one transaction per chunk of
customers, with primary keys chosen by the simulator (deterministic, and no round trip to learn
them). The event log is Hive-partitioned by UTC day; the ground truth is one Parquet file per
table, appended to chunk by chunk, so memory stays flat however many customers there are.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, func, select, text, update

from serving.core.db import make_engine
from serving.core.models import Base, Campaign, CouponDefinition, Customer

_BATCH = 20_000
EVENT_FLUSH_ROWS = 1_000_000  # a chunk or more per write; below, small chunks are merged


def datetimes(us: np.ndarray, missing: np.ndarray | None = None) -> list[Any]:
    """Epoch microseconds -> aware UTC datetimes (None where `missing`), fast via pandas."""
    out = pd.to_datetime(np.asarray(us, dtype=np.int64), unit="us", utc=True).to_pydatetime()
    if missing is not None and missing.any():
        out = out.astype(object)
        out[missing] = None
    return list(out)


def nullable(values: np.ndarray, missing: np.ndarray) -> list[Any]:
    out = np.asarray(values).astype(object)
    out[missing] = None
    return out.tolist()


class DbWriter:
    """Bulk writes of simulated rows, and the bookkeeping around them (reset, counters)."""

    def __init__(self, database_url: str) -> None:
        self.engine: Engine = make_engine(database_url, pool_size=1, max_overflow=0)
        self.rows: dict[str, int] = {t.name: 0 for t in Base.metadata.sorted_tables}
        self.is_postgres = self.engine.dialect.name == "postgresql"

    def close(self) -> None:
        self.engine.dispose()

    def max_ids(self) -> dict[str, int]:
        """Highest id per table, so simulated ids never collide with rows already there."""
        out = {}
        with self.engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                if "id" in table.c:
                    out[table.name] = conn.execute(select(func.max(table.c.id))).scalar() or 0
        return out

    def has_customers(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(Customer.id).limit(1)).first() is not None

    def reset(self) -> None:
        """Empty every table of the core DB, children first."""
        tables = list(reversed(Base.metadata.sorted_tables))
        with self.engine.begin() as conn:
            if self.is_postgres:
                names = ", ".join(f'"{t.name}"' for t in tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(table.delete())

    def insert(self, conn: Connection, table: str, cols: dict[str, Sequence[Any]]) -> None:
        """Insert columns (equal-length sequences) as rows, in executemany batches.

        The statement is SQLAlchemy's own `insert()`, compiled once for the dialect, and each
        value goes through its column type's bind processor (so UTC datetimes, JSON and
        booleans are stored exactly as the ORM stores them); only the per-row bookkeeping of
        `Connection.execute` is skipped, column by column, which is most of its cost. Batches
        are converted one at a time, which bounds the memory the converted rows take.
        """
        keys = list(cols)
        n = len(cols[keys[0]]) if keys else 0
        if n == 0:
            return
        t = Base.metadata.tables[table]
        dialect = conn.dialect
        compiled = t.insert().compile(dialect=dialect, column_keys=keys)
        procs = {k: t.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in keys}
        order = list(compiled.positiontup or ()) if compiled.positional else keys
        for start in range(0, n, _BATCH):
            values = {}
            for k in order:
                chunk = cols[k][start : start + _BATCH]
                proc = procs[k]
                values[k] = [proc(v) for v in chunk] if proc else list(chunk)
            if self.is_postgres:
                self._copy(conn, table, values)
            elif compiled.positional:
                conn.exec_driver_sql(compiled.string, list(zip(*values.values(), strict=True)))
            else:
                conn.exec_driver_sql(
                    compiled.string,
                    [dict(zip(keys, r, strict=True)) for r in zip(*values.values(), strict=True)],
                )
        self.rows[table] += n

    @staticmethod
    def _copy(conn: Connection, table: str, values: dict[str, list[Any]]) -> None:
        """PostgreSQL: COPY FROM STDIN in the connection's transaction (about 2x executemany)."""
        cols = ", ".join(f'"{k}"' for k in values)
        raw = conn.connection.driver_connection
        assert raw is not None  # an open Connection always has its DBAPI connection
        with raw.cursor() as cur, cur.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
            for row in zip(*values.values(), strict=True):
                copy.write_row(row)

    def finish(self, redeemed: dict[int, int], spend: dict[int, float]) -> None:
        """Counters that span chunks, then (PostgreSQL) sequences past the ids we chose."""
        with self.engine.begin() as conn:
            for def_id, count in sorted(redeemed.items()):
                conn.execute(
                    update(CouponDefinition)
                    .where(CouponDefinition.id == def_id)
                    .values(redeemed_count=count)
                )
            for campaign_id, amount in sorted(spend.items()):
                conn.execute(
                    update(Campaign)
                    .where(Campaign.id == campaign_id)
                    .values(spend=round(amount, 2))
                )
            if self.is_postgres:
                for table in Base.metadata.sorted_tables:
                    if "id" in table.c and table.c.id.autoincrement is not False:
                        conn.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
                            )
                        )


class EventLogWriter:
    """Buffers event tables and writes them as date=YYYY-MM-DD/part-NNNNN.parquet files."""

    def __init__(self, root: Path, flush_rows: int = EVENT_FLUSH_ROWS) -> None:
        self.root = root
        self.flush_rows = flush_rows
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._flushes = 0
        self.rows = 0
        self.files = 0

    def add(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        if not self._pending_rows:
            return
        table = pa.concat_tables(self._pending)
        if len(self._pending) > 1:  # each chunk is sorted; together they are not
            table = table.sort_by([("occurred_at", "ascending"), ("customer_id", "ascending")])
        self._pending, self._pending_rows = [], 0
        us = table.column("occurred_at").cast(pa.int64()).to_numpy()
        day = us // 86_400_000_000
        cuts = np.flatnonzero(np.diff(day)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(day)], strict=True):
            name = np.datetime64(int(day[lo]), "D").astype(str)
            folder = self.root / f"date={name}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.slice(lo, hi - lo), folder / f"part-{self._flushes:05d}.parquet")
            self.files += 1
        self.rows += table.num_rows
        self._flushes += 1


class TruthWriter:
    """One Parquet file per ground-truth table, appended to chunk by chunk."""

    def __init__(self, root: Path, schemas: dict[str, pa.Schema]) -> None:
        self.root = root
        self.schemas = schemas
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.rows = dict.fromkeys(schemas, 0)

    def add(self, name: str, table: pa.Table) -> None:
        if name not in self._writers:
            self.root.mkdir(parents=True, exist_ok=True)
            self._writers[name] = pq.ParquetWriter(
                self.root / f"{name}.parquet", self.schemas[name]
            )
        self._writers[name].write_table(table)
        self.rows[name] += table.num_rows

    def close(self) -> None:
        for name in self.schemas:  # an empty table still gets its file, with its schema
            if name not in self._writers:
                self.add(name, self.schemas[name].empty_table())
        for w in self._writers.values():
            w.close()

    @property
    def files(self) -> int:
        return len(self._writers)
