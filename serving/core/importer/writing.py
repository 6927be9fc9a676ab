"""Insert the accepted rows: customers first (the others refer to them), in batches.

Nothing here commits. The caller runs all of it in one transaction and commits once, so a crash
or a refusal by the database half-way leaves nothing behind.
"""

from collections.abc import Iterator
from typing import Any

from rich.progress import Progress, TaskID
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from serving.core.importer.checks import CustomerIndex
from serving.core.importer.sheet import Sheet
from serving.core.models import Base, Customer
from serving.core.services.leads import choose_owner

BATCH = 1_000
# Core inserts on the tables: the ORM's bulk insert splits a batch wherever rows differ in
# which columns are None, which turned into one statement per row on real files.
CUSTOMERS = Base.metadata.tables["customers"]
ORDERS = Base.metadata.tables["orders"]
EVENTS = Base.metadata.tables["events"]
LEADS = Base.metadata.tables["leads"]


def write_sheets(
    session: Session, sheets: dict[str, Sheet], index: CustomerIndex, progress: Progress
) -> None:
    """Write the valid rows of every sheet, setting each sheet's `written` count."""
    writers = {"customers": _customers, "orders": _orders, "events": _events, "leads": _leads}
    for kind, write in writers.items():
        if (sheet := sheets.get(kind)) is not None:
            rows = sheet.valid_indexes()
            task = progress.add_task(f"writing {sheet.label}", total=len(rows))
            write(session, sheet, rows, index, progress, task)
            sheet.written = len(rows)


def _batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _customers(
    session: Session,
    sheet: Sheet,
    rows: list[int],
    index: CustomerIndex,
    progress: Progress,
    task: TaskID,
) -> None:
    records = []
    for i in rows:
        record = sheet.row(i)
        record["external_id"] = record.pop("customer_id")
        records.append(record)
    for batch in _batches(records):
        inserted = session.execute(
            insert(CUSTOMERS).returning(CUSTOMERS.c.external_id, CUSTOMERS.c.id), batch
        )
        # the other sheets now find these customers by id
        index.in_db.update({external_id: id_ for external_id, id_ in inserted if external_id})
        progress.advance(task, len(batch))


def _with_customer(sheet: Sheet, i: int, index: CustomerIndex) -> dict[str, Any]:
    record = sheet.row(i)
    record["customer_id"] = index.in_db[record["customer_id"]]
    return record


def _orders(
    session: Session,
    sheet: Sheet,
    rows: list[int],
    index: CustomerIndex,
    progress: Progress,
    task: TaskID,
) -> None:
    records = []
    for i in rows:
        record = _with_customer(sheet, i, index)
        record["external_id"] = record.pop("order_id")
        records.append(record)
    _insert(session, ORDERS, records, progress, task)


def _events(
    session: Session,
    sheet: Sheet,
    rows: list[int],
    index: CustomerIndex,
    progress: Progress,
    task: TaskID,
) -> None:
    _insert(session, EVENTS, [_with_customer(sheet, i, index) for i in rows], progress, task)


def _insert(
    session: Session, table: Any, records: list[dict[str, Any]], progress: Progress, task: TaskID
) -> None:
    for batch in _batches(records):
        session.execute(insert(table), batch)
        progress.advance(task, len(batch))


def _leads(
    session: Session,
    sheet: Sheet,
    rows: list[int],
    index: CustomerIndex,
    progress: Progress,
    task: TaskID,
) -> None:
    """In file order, so the rules' "least loaded rep" counts the leads imported before."""
    pending: list[dict[str, Any]] = []
    unowned = 0

    def flush() -> None:
        if pending:
            session.execute(insert(LEADS), pending)
            progress.advance(task, len(pending))
            pending.clear()

    records = [_with_customer(sheet, i, index) for i in rows]
    # The rules read each customer's region and industry: load them in a few queries, not one
    # per lead (and hold them: the session's identity map does not).
    needed = [r["customer_id"] for r in records if r["owner_id"] is None]
    customers: dict[int, Customer] = {}
    for start in range(0, len(needed), BATCH):
        chunk = needed[start : start + BATCH]
        customers.update(
            (c.id, c) for c in session.scalars(select(Customer).where(Customer.id.in_(chunk)))
        )
    for record in records:
        record.pop("owner_email")
        if record["owner_id"] is None:
            flush()
            owner = choose_owner(session=session, customer=customers[record["customer_id"]])
            record["owner_id"] = owner.id if owner else None
            unowned += owner is None
        pending.append(record)
        if len(pending) >= BATCH:
            flush()
    flush()
    if unowned:
        sheet.notes.append(f"{unowned} lead(s) left without an owner: no active sales rep")
