"""Checks across rows, files and the database: duplicates and references to customers and others.

They run after every cell is parsed, on all rows, so one run lists every problem of a file and
the person fixes them in one go. Duplicates: the first row with a key wins and later rows are
rejected; a key already in the database is rejected too (the importer adds, it never updates).
Events and leads have no id of their own, so "the same" means every stored field is equal
(events) or the same customer, source and created_at (leads, when created_at is given).
"""

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from serving.core.importer import lookups
from serving.core.importer.sheet import Sheet


@dataclass
class CustomerIndex:
    """Where a customer_id points: an existing customer, or a row of this import's customers file.

    The database wins: with --skip-invalid a re-imported customer's row is rejected as a
    duplicate, yet its orders still belong to the customer already stored.
    """

    in_db: dict[str, int]
    in_file: set[str] = field(default_factory=set)
    rejected_in_file: dict[str, int] = field(default_factory=dict)  # id -> its row number
    file_label: str | None = None
    # The customers file was given but cannot be read: no reference can be judged (and nothing
    # will be written anyway).
    unknowable: bool = False

    def problem(self, external_id: str) -> str | None:
        if self.unknowable or external_id in self.in_db or external_id in self.in_file:
            return None
        if external_id in self.rejected_in_file:
            row = self.rejected_in_file[external_id]
            return (
                f"customer_id '{external_id}' is on row {row} of {self.file_label}, "
                "which was rejected"
            )
        if self.file_label:
            return (
                f"customer_id '{external_id}' is not a known customer "
                f"(not in the database, nor in {self.file_label})"
            )
        return (
            f"customer_id '{external_id}' is not in the database "
            "(import the customer first, or add a customers file)"
        )


def check_sheets(session: Session, sheets: dict[str, Sheet]) -> CustomerIndex:
    """Run every cross-row check; returns where each customer_id points, for the writer."""
    usable = {kind: s for kind, s in sheets.items() if not s.problems}
    mentioned = {c for s in usable.values() for c in s.values["customer_id"] if c is not None}
    index = CustomerIndex(
        in_db=lookups.customer_ids(session, mentioned),
        unknowable="customers" in sheets and "customers" not in usable,
    )
    if (customers := usable.get("customers")) is not None:
        _check_customers(customers, index)
    if "orders" in usable:
        _check_orders(session, usable["orders"], index)
    if "events" in usable:
        _check_events(session, usable["events"], index)
    if "leads" in usable:
        _check_leads(session, usable["leads"], index)
    return index


def _first_wins(
    sheet: Sheet,
    keys: Sequence[Hashable | None],
    column: str | None,
    message: Callable[[Hashable, int], str],
) -> None:
    """Reject every row whose key an earlier row already has; message(key, first row number)."""
    first: dict[Hashable, int] = {}
    for i, key in enumerate(keys):
        if key is None:
            continue
        if key in first:
            sheet.reject(i, column, message(key, sheet.row_numbers[first[key]]))
        else:
            first[key] = i


def _check_references(sheet: Sheet, index: CustomerIndex) -> None:
    for i, external_id in enumerate(sheet.values["customer_id"]):
        if external_id is not None and (problem := index.problem(external_id)):
            sheet.reject(i, "customer_id", problem)


def _check_customers(sheet: Sheet, index: CustomerIndex) -> None:
    ids = sheet.values["customer_id"]
    _first_wins(
        sheet,
        ids,
        "customer_id",
        lambda key, row: f"customer_id '{key}' is also on row {row} (a duplicate)",
    )
    for i, external_id in enumerate(ids):
        if external_id in index.in_db:
            sheet.reject(
                i,
                "customer_id",
                f"customer_id '{external_id}' is already in the "
                "database (import adds customers, never updates)",
            )
    index.file_label = sheet.label
    for i, external_id in enumerate(ids):
        if external_id is None:
            continue
        if sheet.is_valid(i):
            index.in_file.add(external_id)
        else:
            index.rejected_in_file.setdefault(external_id, sheet.row_numbers[i])
    for external_id in index.in_file:
        index.rejected_in_file.pop(external_id, None)


def _check_orders(session: Session, sheet: Sheet, index: CustomerIndex) -> None:
    ids = sheet.values["order_id"]
    _first_wins(
        sheet,
        ids,
        "order_id",
        lambda key, row: f"order_id '{key}' is also on row {row} (a duplicate)",
    )
    existing = lookups.order_ids(session, [o for o in ids if o is not None])
    for i, order_id in enumerate(ids):
        if order_id in existing:
            sheet.reject(i, "order_id", f"order_id '{order_id}' is already in the database")
    _check_references(sheet, index)


def _db_customer(index: CustomerIndex, external_id: str | None) -> int | None:
    return None if external_id is None else index.in_db.get(external_id)


def _check_events(session: Session, sheet: Sheet, index: CustomerIndex) -> None:
    v = sheet.values
    _check_references(sheet, index)
    campaigns = lookups.campaign_ids(session, [c for c in v["campaign_id"] if c is not None])
    for i, campaign_id in enumerate(v["campaign_id"]):
        if campaign_id is not None and campaign_id not in campaigns:
            sheet.reject(i, "campaign_id", f"campaign_id {campaign_id} does not exist")

    def key(i: int, customer: int | str | None) -> tuple[Any, ...] | None:
        at, type_ = v["occurred_at"][i], v["type"][i]
        if customer is None or not sheet.is_valid(i):  # a bad cell would compare as empty
            return None
        return (
            customer,
            at,
            type_.value,
            v["page"][i],
            v["channel"][i],
            v["campaign_id"][i],
            lookups.properties_key(v["properties"][i]),
        )

    _first_wins(
        sheet,
        [key(i, c) for i, c in enumerate(v["customer_id"])],
        None,
        lambda _, row: (
            f"duplicate event: row {row} has the same customer_id, "
            "occurred_at, type, page, channel, campaign_id and properties"
        ),
    )
    in_db = [key(i, _db_customer(index, c)) for i, c in enumerate(v["customer_id"])]
    present = [k for k in in_db if k is not None]
    if present:
        times = [k[1] for k in present]
        existing = lookups.event_keys(session, [k[0] for k in present], min(times), max(times))
        for i, k in enumerate(in_db):
            if k in existing:
                sheet.reject(
                    i,
                    None,
                    "this event is already in the database (same customer, "
                    "time, type, page, channel, campaign and properties)",
                )


def _check_leads(session: Session, sheet: Sheet, index: CustomerIndex) -> None:
    v = sheet.values
    _check_references(sheet, index)
    emails = [e for e in v["owner_email"] if e is not None]
    owners = lookups.users_by_email(session, emails)
    owner_ids: list[int | None] = []
    for i, email in enumerate(v["owner_email"]):
        owner = owners.get(email.lower()) if email is not None else None
        owner_ids.append(owner.id if owner else None)
        if email is None:
            continue
        if owner is None:
            sheet.reject(i, "owner_email", f"owner_email '{email}' is not a Lodestar user")
        elif problem := owner.problem():
            sheet.reject(i, "owner_email", problem)
    v["owner_id"] = owner_ids  # resolved here, used by the writer

    # Only a created_at from the file identifies a lead; a defaulted one is "now", always new.
    given = sheet.cells.get("created_at") or [None] * len(sheet)

    def key(i: int, customer: int | str | None) -> tuple[Any, ...] | None:
        at, source = v["created_at"][i], v["source"][i]
        if given[i] is None or customer is None or not sheet.is_valid(i):
            return None
        return (customer, source.value, at)

    _first_wins(
        sheet,
        [key(i, c) for i, c in enumerate(v["customer_id"])],
        None,
        lambda _, row: f"duplicate lead: row {row} has the same customer_id, source and created_at",
    )
    in_db = [key(i, _db_customer(index, c)) for i, c in enumerate(v["customer_id"])]
    present = [k for k in in_db if k is not None]
    if present:
        times = [k[2] for k in present]
        existing = lookups.lead_keys(session, [k[0] for k in present], min(times), max(times))
        for i, k in enumerate(in_db):
            if k in existing:
                sheet.reject(
                    i,
                    None,
                    "this lead is already in the database (same customer, source and created_at)",
                )
