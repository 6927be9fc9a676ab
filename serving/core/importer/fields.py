"""Field types of the import files: text in, Python values and a plain message per bad cell out.

Every parser takes the column's cells as an object Series of stripped strings (None where the
cell is empty) and returns `(values, errors)`, two object Series on the same index. Empty cells
stay None with no error: whether a column may be empty is the schema's business, not the type's.
Parsing is vectorised with pandas where that is easy; messages are written for the person who
has to fix the file, so they quote the bad value and say what would be accepted.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import available_timezones

import numpy as np
import pandas as pd

Parsed = tuple[pd.Series, pd.Series]

# PostgreSQL INTEGER; a larger id or count is a typo, and would fail the whole transaction.
MAX_INT = 2**31 - 1
# NUMERIC(14, 2)
MAX_MONEY = 10**12 - 0.01
DATETIME_HINT = "use ISO 8601, e.g. 2026-10-01T09:30:00Z"


class Field(Protocol):
    def parse(self, name: str, cells: pd.Series) -> Parsed: ...


def quoted(value: str, limit: int = 40) -> str:
    """The cell as the person typed it, cut short so one huge cell cannot flood the report."""
    return f"'{value}'" if len(value) <= limit else f"'{value[:limit]}...'"


def _no_errors(cells: pd.Series) -> pd.Series:
    return pd.Series([None] * len(cells), index=cells.index, dtype=object)


def _set(
    errors: pd.Series, bad: pd.Series, cells: pd.Series, message: Callable[[str], str]
) -> None:
    """Write `message(cell)` where `bad` holds, keeping the first message a cell already has."""
    bad = bad.eq(True) & errors.isna()
    if bad.any():
        errors[bad] = [message(str(c)) for c in cells[bad]]


def _per_cell(cells: pd.Series, parse: Callable[[str], tuple[Any, str | None]]) -> Parsed:
    """For types without a vectorised parser: `parse(cell)` returns (value, error)."""
    pairs = [(None, None) if cell is None else parse(cell) for cell in cells]
    values = pd.Series([None] * len(pairs), index=cells.index, dtype=object)
    values[:] = [v for v, _ in pairs]  # element-wise, so lists stay list values
    return values, pd.Series([e for _, e in pairs], index=cells.index, dtype=object)


@dataclass(frozen=True)
class Text:
    max_length: int

    def parse(self, name: str, cells: pd.Series) -> Parsed:
        errors = _no_errors(cells)
        _set(
            errors,
            cells.str.len() > self.max_length,
            cells,
            lambda c: f"{name} is longer than {self.max_length} characters ({len(c)})",
        )
        return cells.astype(object), errors


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Email:
    max_length: int = 254

    def parse(self, name: str, cells: pd.Series) -> Parsed:
        values, errors = Text(self.max_length).parse(name, cells)
        _set(
            errors,
            cells.notna() & ~cells.str.match(EMAIL).eq(True),
            cells,
            lambda c: f"{name} {quoted(c)} is not an e-mail address",
        )
        return values, errors


@dataclass(frozen=True)
class Integer:
    minimum: int = 0
    maximum: int = MAX_INT

    def parse(self, name: str, cells: pd.Series) -> Parsed:
        # "12.0" is accepted: spreadsheets and pandas often write whole numbers that way.
        numbers = pd.to_numeric(cells, errors="coerce")
        present = cells.notna()
        errors = _no_errors(cells)
        _set(
            errors,
            present & (~np.isfinite(numbers) | (numbers % 1 != 0)),
            cells,
            lambda c: f"{name} {quoted(c)} is not a whole number",
        )
        _set(
            errors,
            present & (numbers < self.minimum),
            cells,
            lambda c: f"{name} must be {self.minimum} or more (got {c})",
        )
        _set(
            errors,
            present & (numbers > self.maximum),
            cells,
            lambda c: f"{name} {quoted(c)} is too large",
        )
        ok = present & errors.isna()
        values = _no_errors(cells)
        values[ok] = [int(n) for n in numbers[ok]]
        return values, errors


@dataclass(frozen=True)
class Money:
    """A non-negative amount, rounded to cents like the NUMERIC(14, 2) column it goes to."""

    def parse(self, name: str, cells: pd.Series) -> Parsed:
        numbers = pd.to_numeric(cells, errors="coerce")
        present = cells.notna()
        errors = _no_errors(cells)
        _set(
            errors,
            present & ~np.isfinite(numbers),
            cells,
            lambda c: (
                f"{name} {quoted(c)} is not a number"
                + (" (use a dot for decimals, e.g. 12.50)" if "," in c else "")
            ),
        )
        _set(
            errors, present & (numbers < 0), cells, lambda c: f"{name} must be 0 or more (got {c})"
        )
        _set(
            errors,
            present & (numbers > MAX_MONEY),
            cells,
            lambda c: f"{name} {quoted(c)} is too large",
        )
        ok = present & errors.isna()
        values = _no_errors(cells)
        values[ok] = [round(float(n), 2) for n in numbers[ok]]
        return values, errors


def _by_unique(cells: pd.Series, parse: Callable[[str], Any]) -> Parsed:
    """Parse each distinct cell once (dates repeat a lot); `parse` returns None if invalid."""
    parsed = {cell: parse(cell) for cell in cells.dropna().unique()}
    # A plain list, not Series.map: pandas would turn the datetimes into its own Timestamps.
    values = [None if cell is None else parsed[cell] for cell in cells]
    return pd.Series(values, index=cells.index, dtype=object), _no_errors(cells)


def _utc_datetime(cell: str) -> datetime | None:
    # Python's parser, not pandas': pandas 2.3 (format="ISO8601") gives a naive time that
    # follows an offset-carrying one in the same column that offset, silently.
    try:
        parsed = datetime.fromisoformat(cell)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 shifted into year 0
        return None


@dataclass(frozen=True)
class Timestamp:
    """ISO 8601 date/time; a time without an offset is taken as UTC, one with is converted."""

    def parse(self, name: str, cells: pd.Series) -> Parsed:
        values, errors = _by_unique(cells, _utc_datetime)
        _set(
            errors,
            cells.notna() & values.isna(),
            cells,
            lambda c: f"{name} {quoted(c)} is not a date/time ({DATETIME_HINT})",
        )
        return values, errors


def _date(cell: str) -> date | None:
    # A Parquet timestamp at midnight arrives as '1990-12-31 00:00:00.000000': accept it.
    try:
        parsed = datetime.fromisoformat(cell)
    except ValueError:
        return None
    return parsed.date() if parsed.time() == time() and parsed.tzinfo is None else None


@dataclass(frozen=True)
class Date:
    def parse(self, name: str, cells: pd.Series) -> Parsed:
        values, errors = _by_unique(cells, _date)
        _set(
            errors,
            cells.notna() & values.isna(),
            cells,
            lambda c: f"{name} {quoted(c)} is not a date (use YYYY-MM-DD, e.g. 1990-12-31)",
        )
        return values, errors


BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


@dataclass(frozen=True)
class Boolean:
    def parse(self, name: str, cells: pd.Series) -> Parsed:
        values = cells.str.lower().map(BOOLEANS).astype(object)
        errors = _no_errors(cells)
        _set(
            errors,
            cells.notna() & values.isna(),
            cells,
            lambda c: f"{name} {quoted(c)} is not true/false (use true, false, yes, no, 1 or 0)",
        )
        return values.where(values.notna(), None), errors


@lru_cache(maxsize=1)
def _time_zones() -> dict[str, str]:
    """Lower-case name -> canonical IANA name, so 'europe/paris' is stored as 'Europe/Paris'."""
    return {name.lower(): name for name in available_timezones() | {"UTC"}}


@dataclass(frozen=True)
class TimeZone:
    def parse(self, name: str, cells: pd.Series) -> Parsed:
        values = cells.str.lower().map(_time_zones()).astype(object)
        errors = _no_errors(cells)
        _set(
            errors,
            cells.notna() & values.isna(),
            cells,
            lambda c: (
                f"{name} {quoted(c)} is not an IANA time zone name "
                "(e.g. Europe/Paris, America/New_York, UTC)"
            ),
        )
        return values.where(values.notna(), None), errors


@dataclass(frozen=True)
class Choice:
    enum: type[StrEnum]

    def parse(self, name: str, cells: pd.Series) -> Parsed:
        members = {m.value.lower(): m for m in self.enum}
        values = cells.str.lower().map(members).astype(object)
        allowed = ", ".join(m.value for m in self.enum)
        errors = _no_errors(cells)
        _set(
            errors,
            cells.notna() & values.isna(),
            cells,
            lambda c: f"{name} {quoted(c)} is not one of: {allowed}",
        )
        return values.where(values.notna(), None), errors


@dataclass(frozen=True)
class Tags:
    """'vip; newsletter' -> ['vip', 'newsletter']: trimmed, empty and repeated tags dropped."""

    def parse(self, name: str, cells: pd.Series) -> Parsed:
        def split(cell: str) -> tuple[list[str], None]:
            return list(dict.fromkeys(t.strip() for t in cell.split(";") if t.strip())), None

        return _per_cell(cells, split)


@dataclass(frozen=True)
class JsonObject:
    def parse(self, name: str, cells: pd.Series) -> Parsed:
        def load(cell: str) -> tuple[dict[str, Any] | None, str | None]:
            try:
                value = json.loads(cell)
            except json.JSONDecodeError as exc:
                return None, f"{name} is not valid JSON ({exc.msg} at character {exc.pos + 1})"
            if not isinstance(value, dict):
                return None, f'{name} must be a JSON object such as {{"plan": "pro"}}'
            return value, None

        return _per_cell(cells, load)
