"""The prediction log: every score served, with the features it was computed from.

Requests only put rows on a bounded queue; one writer thread turns them into Parquet files
(`<data_dir>/prediction_log/model=<name>/date=<UTC day>/part-<host>-<pid>-<n>.parquet`), a
file per flush, written under a temporary name and renamed, so a reader (the drift monitor)
never sees half a file and several API processes never write the same one. If the writer
falls behind, rows are dropped and counted rather than slowing requests down.
"""

import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger("lodestar.prediction_log")


@dataclass
class _Batch:
    model: str
    frame: pd.DataFrame


class PredictionLog:
    """Batched, off-the-request-path Parquet writer; `append` never blocks."""

    def __init__(
        self,
        root: Path,
        *,
        flush_seconds: float = 2.0,
        max_rows: int = 50_000,
        max_queued_batches: int = 10_000,
    ) -> None:
        self.root = Path(root)
        self.flush_seconds = flush_seconds
        self.max_rows = max_rows
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue[_Batch | None] = queue.Queue(max_queued_batches)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._seq = 0
        self._prefix = f"part-{socket.gethostname()}-{os.getpid()}"

    def append(
        self,
        model: str,
        version: str,
        ids: list[int],
        predictions: dict[str, list[object]],
        features: pd.DataFrame,
        *,
        request_id: str,
    ) -> None:
        self._ensure_started()
        frame = features.reset_index(drop=True).copy()
        frame.insert(0, "request_id", request_id)
        frame.insert(0, "entity_id", ids)
        frame.insert(0, "model_version", version)
        frame.insert(0, "predicted_at", pd.Timestamp.now(tz=UTC))
        for name, values in predictions.items():
            frame[name] = values
        try:
            self._queue.put_nowait(_Batch(model, frame))
        except queue.Full:
            self.dropped += len(frame)
            log.warning("prediction log is behind: dropped %d rows", len(frame))

    def flush(self, timeout: float = 10.0) -> None:
        """Write what is queued now (for shutdown and tests)."""
        if self._thread is None:
            return
        done = threading.Event()
        self._queue.put(_FlushMarker(done))  # type: ignore[arg-type]
        done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="prediction-log", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        pending: list[_Batch] = []
        rows, last = 0, time.monotonic()
        while True:
            wait = max(0.0, self.flush_seconds - (time.monotonic() - last))
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = _TICK
            stop = item is None
            if isinstance(item, _Batch):
                pending.append(item)
                rows += len(item.frame)
            due = stop or isinstance(item, _FlushMarker) or rows >= self.max_rows
            if due or time.monotonic() - last >= self.flush_seconds:
                if pending:
                    self._write(pending)
                pending, rows, last = [], 0, time.monotonic()
            if isinstance(item, _FlushMarker):
                item.done.set()
            if stop:
                return

    def _write(self, batches: list[_Batch]) -> None:
        by_model: dict[str, list[pd.DataFrame]] = {}
        for b in batches:
            by_model.setdefault(b.model, []).append(b.frame)
        day = datetime.now(UTC).date().isoformat()
        for model, frames in by_model.items():
            try:
                table = pa.Table.from_pandas(
                    pd.concat(frames, ignore_index=True), preserve_index=False
                )
                folder = self.root / f"model={model}" / f"date={day}"
                folder.mkdir(parents=True, exist_ok=True)
                self._seq += 1
                final = folder / f"{self._prefix}-{self._seq:07d}.parquet"
                tmp = final.with_suffix(".tmp")
                pq.write_table(table, tmp)
                tmp.rename(final)
                self.written += table.num_rows
            except Exception:  # a bad batch must not stop the writer
                log.exception("could not write %d prediction rows for %s", len(frames), model)


@dataclass
class _FlushMarker:
    done: threading.Event


_TICK = object()


def read_predictions(root: Path, model: str, since: datetime | None = None) -> pd.DataFrame:
    """The logged predictions of one model (newest last), optionally only those since a time."""
    folder = Path(root) / f"model={model}"
    files = sorted(folder.glob("date=*/*.parquet")) if folder.exists() else []
    if since is not None:
        files = [f for f in files if f.parent.name.removeprefix("date=") >= f"{since:%Y-%m-%d}"]
    if not files:
        return pd.DataFrame()
    frame = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    if since is not None:
        frame = frame[frame["predicted_at"] >= pd.Timestamp(since)]
    return frame.sort_values("predicted_at", kind="stable").reset_index(drop=True)
