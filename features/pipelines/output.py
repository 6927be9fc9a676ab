"""Where feature tables go: one Parquet file per computed day, and the build state.

    <data_dir>/features/<table>/<YYYY-MM-DD>.parquet
    <data_dir>/features/_state.json     {"tables": {"<table>": {"through": "YYYY-MM-DD", ...}}}

Each file is written to a temporary name and renamed into place, so a reader never sees half a
file and re-running a day replaces it whole. Files are encoded and written on two background
threads (Arrow releases the GIL), so the next days are computed meanwhile. A full build writes
into a staging directory that replaces the table's directory once every day is written.
"""

import json
import os
import shutil
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from features.pipelines.days import to_date

STATE_FILE = "_state.json"
_WRITERS = 2
_IN_FLIGHT = 4
_IN_FLIGHT_BYTES = 256 * 2**20


def features_dir(data_dir: Path) -> Path:
    return data_dir / "features"


class DayFiles:
    """The day files of one table, written by one build.

    full=True: into a staging directory that `commit` swaps in for the old one.
    full=False: in place; `commit` removes files of the rebuilt days that got no rows this time,
    so re-running a day leaves exactly what that day has now.
    """

    def __init__(self, root: Path, table: str, *, full: bool) -> None:
        self.final = root / table
        self.full = full
        self.dir = root / f".{table}.staging" if full else self.final
        if full and self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.written: set[str] = set()
        self.rows = 0
        self.bytes = 0
        self._pool = ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="features-write")
        self._pending: deque[Future[tuple[str, int, int, int]]] = deque()
        self._pending_bytes = 0

    def path(self, day: int) -> Path:
        return self.dir / f"{to_date(day).isoformat()}.parquet"

    def write(self, day: int, table: "pa.Table | Pieces") -> None:
        """Queue one day's file; a few files and _IN_FLIGHT_BYTES at most wait, so memory
        stays bounded."""
        nbytes = table.nbytes
        while self._pending and (
            len(self._pending) >= _IN_FLIGHT or self._pending_bytes + nbytes > _IN_FLIGHT_BYTES
        ):
            self._collect(self._pending.popleft())
        self._pending.append(self._pool.submit(_write_file, self.path(day), table))
        self._pending_bytes += nbytes

    def _collect(self, future: "Future[tuple[str, int, int, int]]") -> None:
        name, rows, size, nbytes = future.result()
        self._pending_bytes -= nbytes
        self.written.add(name)
        self.rows += rows
        self.bytes += size

    def finish(self) -> None:
        """Wait for every queued file (raising the first error)."""
        try:
            while self._pending:
                self._collect(self._pending.popleft())
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def commit(self, first_day: int | None, last_day: int) -> None:
        """Make the build visible: swap in the staging directory, or drop stale day files."""
        self.finish()
        if self.full:
            old = self.final.with_name(f".{self.final.name}.old")
            if old.exists():
                shutil.rmtree(old)
            if self.final.exists():
                self.final.rename(old)
            self.dir.rename(self.final)
            if old.exists():
                shutil.rmtree(old)
            return
        lo = None if first_day is None else to_date(first_day)
        hi = to_date(last_day)
        for f in self.final.glob("*.parquet"):
            try:
                day = date.fromisoformat(f.stem)
            except ValueError:
                continue
            if (lo is None or day >= lo) and day <= hi and f.name not in self.written:
                f.unlink()

    def abort(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.full and self.dir.exists():
            shutil.rmtree(self.dir)


@dataclass
class Pieces:
    """A day too big to hold in Arrow at once: its rows as consecutive tables, made lazily
    (on the writer thread, from data the builder will not change) and written as row groups."""

    schema: pa.Schema
    tables: Iterator[pa.Table]
    nbytes: int  # about as much as one piece in flight costs


def _write_file(path: Path, table: "pa.Table | Pieces") -> tuple[str, int, int, int]:
    """zstd without dictionaries but for text: as small as snappy+dictionary, ~30% faster."""
    text = [f.name for f in table.schema if _is_text(f.type)]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    options: dict[str, Any] = {"compression": "zstd", "use_dictionary": text or False}
    if isinstance(table, pa.Table):
        pq.write_table(table, tmp, **options)
        rows = table.num_rows
    else:
        rows = 0
        with pq.ParquetWriter(tmp, table.schema, **options) as writer:
            for piece in table.tables:
                writer.write_table(piece)
                rows += piece.num_rows
    os.replace(tmp, path)
    return path.name, rows, path.stat().st_size, table.nbytes


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or (pa.types.is_list(t) and pa.types.is_string(t.value_type))


def read_state(root: Path) -> dict[str, date]:
    """The last complete day built per table (tables never built are absent)."""
    path = root / STATE_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {
        name: date.fromisoformat(entry["through"])
        for name, entry in data.get("tables", {}).items()
        if entry.get("through")
    }


def write_state(root: Path, table: str, entry: dict[str, Any]) -> None:
    """Record one table's build, keeping the other tables' entries."""
    path = root / STATE_FILE
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("tables", {})[table] = entry
    root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
