"""Run a simulation: plan the calendar, then simulate and write customers chunk by chunk.

Each chunk of customers gets its own random streams, spawned from the seed by chunk number,
so a chunk's world depends only on (seed, chunk, window) and whatever the previous chunks
left in the few cross-chunk counters (ids, rep loads, coupon totals), which are all
deterministic. Nothing depends on the wall clock or on set/dict iteration order.
"""

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from serving.config import Settings
from serving.core.migrate import upgrade
from serving.simulator import ground_truth, records
from serving.simulator.behaviour import EventBuffer, background_sessions
from serving.simulator.calendar import Ids, build_calendar
from serving.simulator.codes import code_key
from serving.simulator.commerce import Ledger, simulate_commerce
from serving.simulator.customers import generate_customers
from serving.simulator.intensity import PurchaseIntensity
from serving.simulator.leads import Assigner, arrivals, simulate_leads
from serving.simulator.mailing import send_campaigns
from serving.simulator.timebase import TzTable, Window
from serving.simulator.world import ZONES
from serving.simulator.writer import DbWriter, EventLogWriter, TruthWriter

CHUNK_SIZE = 25_000
_STREAMS = 6  # customers, mail, commerce, browsing, lead arrivals, lead outcomes


class SimulationError(RuntimeError):
    """The simulation cannot start (for example: the DB already holds customers)."""


@dataclass
class SimulationSummary:
    """What a run wrote, and how fast."""

    customers: int
    days: int
    seed: int
    db_rows: dict[str, int]
    event_rows: int
    event_files: int
    event_log_dir: Path
    truth_rows: dict[str, int]
    truth_files: int
    ground_truth_dir: Path
    elapsed_s: float
    window: tuple[str, str] = ("", "")
    chunks: int = 0

    @property
    def rows_written(self) -> int:
        """DB rows plus event-log rows (the ground truth is not counted)."""
        return sum(self.db_rows.values()) + self.event_rows

    @property
    def rows_per_second(self) -> float:
        return self.rows_written / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def __str__(self) -> str:
        db = ", ".join(f"{t} {n:,}" for t, n in self.db_rows.items() if n)
        truth = ", ".join(f"{t} {n:,}" for t, n in self.truth_rows.items())
        return "\n".join(
            [
                f"simulated {self.customers:,} customers over {self.days} days "
                f"({self.window[0]} .. {self.window[1]}, seed {self.seed}, {self.chunks} chunks)",
                f"core DB rows: {db}",
                f"event log: {self.event_rows:,} rows in {self.event_files:,} files under "
                f"{self.event_log_dir}",
                f"ground truth: {truth} ({self.truth_files} files under {self.ground_truth_dir})",
                f"{self.elapsed_s:.1f} s, {self.rows_per_second:,.0f} rows/s "
                f"({self.rows_written:,} DB + event rows)",
            ]
        )


def _progress() -> Progress:
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=False,
    )


def _clear_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


def _is_nonempty(path: Path) -> bool:
    return path.exists() and any(path.iterdir())


def run_simulation(
    settings: Settings,
    *,
    customers: int,
    days: int,
    seed: int,
    reset: bool,
    chunk_size: int = CHUNK_SIZE,
) -> SimulationSummary:
    """Simulate `customers` customers over the `days` days before 2026-11-01 into the core DB,
    the Parquet event log (settings.event_log_dir) and the ground truth (settings.ground_truth_dir).

    reset=True empties the core DB and both directories first; reset=False refuses to add a
    second world on top of one (customers in the DB, or files in either directory).
    """
    if customers < 1 or days < 1 or chunk_size < 1:
        raise ValueError("customers, days and chunk_size must be positive")
    started = time.perf_counter()
    upgrade(settings.database_url)
    db = DbWriter(settings.database_url)
    try:
        events_dir, truth_dir = settings.event_log_dir, settings.ground_truth_dir
        if reset:
            db.reset()
            _clear_dir(events_dir)
            _clear_dir(truth_dir)
        elif db.has_customers() or _is_nonempty(events_dir) or _is_nonempty(truth_dir):
            raise SimulationError(
                "the core DB already holds customers (or the data dir holds a simulated world);"
                " run with reset=True (--reset) to replace them"
            )
        return _simulate(db, events_dir, truth_dir, customers, days, seed, chunk_size, started)
    finally:
        db.close()


def _simulate(
    db: DbWriter,
    events_dir: Path,
    truth_dir: Path,
    n_customers: int,
    days: int,
    seed: int,
    chunk_size: int,
    started: float,
) -> SimulationSummary:
    window = Window(days)
    tzt = TzTable(window, ZONES)
    pi = PurchaseIntensity(window)
    ids = Ids(db.max_ids())
    calendar = build_calendar(window, n_customers, ids)
    with db.engine.begin() as conn:
        for table, rows in records.calendar_rows(calendar, window):
            if rows:
                db.insert(conn, table, {k: [r[k] for r in rows] for k in rows[0]})

    ledger, assigner, key = Ledger(), Assigner(calendar), code_key(seed)
    event_log = EventLogWriter(events_dir)
    truth = TruthWriter(
        truth_dir, {name: ground_truth.schema(name) for name in ground_truth.SCHEMA}
    )
    session_base = 0
    n_chunks = -(-n_customers // chunk_size)
    with _progress() as progress:
        task = progress.add_task("simulating", total=n_customers)
        for k in range(n_chunks):
            n = min(chunk_size, n_customers - k * chunk_size)
            streams = np.random.SeedSequence(seed, spawn_key=(1, k)).spawn(_STREAMS)
            rng = [np.random.default_rng(s) for s in streams]
            progress.update(task, description=f"chunk {k + 1}/{n_chunks}: simulating")

            c = generate_customers(rng[0], ids.take("customers", n), n, window)
            buf = EventBuffer()
            exp = send_campaigns(rng[1], c, calendar, window, tzt, buf)
            com = simulate_commerce(
                rng[2], c, exp, calendar, window, pi, tzt, ids, ledger, key, buf
            )
            background_sessions(buf, rng[3], c, window, tzt)
            leads = simulate_leads(
                rng[5], c, arrivals(rng[4], c, window, buf), window, assigner, buf
            )

            progress.update(task, description=f"chunk {k + 1}/{n_chunks}: writing")
            first_exp = ids.take("exposures", len(exp))
            first_order = ids.take("orders", len(com.orders["t"]))
            first_red = ids.take("redemptions", len(com.redemptions["t"]))
            first_lead = ids.take("leads", len(leads))
            redemptions, usage = records.redemption_columns(c, com, first_red, first_order, window)
            with db.engine.begin() as conn:
                db.insert(conn, "customers", records.customer_columns(c, window))
                db.insert(conn, "exposures", records.exposure_columns(c, exp, first_exp, window))
                db.insert(conn, "orders", records.order_columns(c, com, first_order, window))
                db.insert(conn, "coupon_codes", records.coupon_code_columns(c, com, window))
                db.insert(conn, "redemptions", redemptions)
                db.insert(conn, "coupon_customer_usage", usage)
                db.insert(conn, "leads", records.lead_columns(c, leads, first_lead, window))
            event_log.add(buf.to_table(window, session_base))
            session_base += buf.n_sessions
            lead_ids = np.arange(first_lead, first_lead + len(leads), dtype=np.int64)
            truth.add("customers", ground_truth.customers_table(c, window, tzt))
            truth.add("leads", ground_truth.leads_table(c, leads, lead_ids, window))
            truth.add("treatment_effects", ground_truth.effects_table(c, com, calendar.offer_ids))
            truth.add("customer_snapshots", ground_truth.snapshots_table(c, window, pi, com.orders))
            progress.advance(task, n)
        progress.update(task, description="finishing")
        event_log.flush()
        truth.close()
        db.finish(ledger.redeemed, ledger.spend)

    return SimulationSummary(
        customers=n_customers,
        days=days,
        seed=seed,
        db_rows=dict(db.rows),
        event_rows=event_log.rows,
        event_files=event_log.files,
        event_log_dir=events_dir,
        truth_rows=dict(truth.rows),
        truth_files=truth.files,
        ground_truth_dir=truth_dir,
        elapsed_s=time.perf_counter() - started,
        window=(window.start.date().isoformat(), window.end.date().isoformat()),
        chunks=n_chunks,
    )
