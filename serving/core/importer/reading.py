"""Read a CSV or Parquet file into a Sheet of text cells, checking the header against the schema.

Both formats become the same thing, text per cell, so one set of parsers and messages serves
both: a typed Parquet column simply always parses. Header problems (unknown, missing or repeated
columns) are problems of the file, not of a row: an unknown column is most often a typo of an
optional one, and importing without it would silently drop that data.
"""

import csv
import difflib
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.progress import Progress

from serving.core.importer.report import Rejection
from serving.core.importer.schema import Schema
from serving.core.importer.sheet import Sheet

# How often (in records) the reading progress bar moves.
PROGRESS_EVERY = 5_000


def read_sheet(schema: Schema, path: Path, progress: Progress) -> Sheet:
    sheet = Sheet(schema=schema, path=path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        sheet.problems.append(f"{path.name}: use a .csv or .parquet file (got '{path.suffix}')")
    elif not path.is_file():
        sheet.problems.append(f"{path} does not exist")
    else:
        try:
            (_read_csv if suffix == ".csv" else _read_parquet)(sheet, progress)
        except OSError as exc:  # permissions, a vanished network drive...
            sheet.problems.append(f"cannot read {path}: {exc.strerror or exc}")
    return sheet


def _check_header(sheet: Sheet, header: list[str]) -> list[str] | None:
    """Normalised column names, or None (with the problems recorded) if the header is unusable."""
    names = [h.strip().lower() for h in header]
    while names and not names[-1]:  # trailing separators in the header line
        names.pop()
    known = sheet.schema.names
    if len(names) == 1 and ";" in names[0]:
        sheet.problems.append(
            "the header looks semicolon-separated; save the file as comma-separated CSV"
        )
        return None
    for position, name in enumerate(names, start=1):
        if not name:
            sheet.problems.append(f"column {position} has no name in the header")
        elif name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            sheet.problems.append(
                f"unknown column '{name}' ({hint}{sheet.kind} columns are: {', '.join(known)})"
            )
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        sheet.problems.append(f"column(s) repeated in the header: {', '.join(repeated)}")
    missing = [c for c in sheet.schema.required if c not in names]
    if missing:
        sheet.problems.append(f"missing required column(s): {', '.join(missing)}")
    return None if sheet.problems else names


def _clean(value: str) -> str | None:
    return value.strip() or None


def _read_csv(sheet: Sheet, progress: Progress) -> None:
    path = sheet.path
    task = progress.add_task(f"reading {path.name}", total=path.stat().st_size)
    with path.open("rb") as raw:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark.
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        names: list[str] | None = None
        rows: list[list[str | None]] = []
        last_line = 0
        try:
            for record in reader:
                first_line, last_line = last_line + 1, reader.line_num
                cells = [v.strip() or None for v in record]
                if not any(cells):
                    continue  # blank line, or a row of empty cells
                if names is None:
                    names = _check_header(sheet, record)
                    if names is None:
                        return
                    continue
                if len(cells) > len(names) and not any(cells[len(names) :]):
                    cells = cells[: len(names)]  # trailing separators
                if len(cells) != len(names):
                    sheet.malformed.append(
                        Rejection(sheet.label, first_line, None, _width_message(record, len(names)))
                    )
                    continue
                sheet.row_numbers.append(first_line)
                rows.append(cells)
                if len(rows) % PROGRESS_EVERY == 0:
                    progress.update(task, completed=raw.tell())
        except UnicodeDecodeError:
            sheet.problems.append(
                f"line {_first_non_utf8_line(path)} is not UTF-8 text; save the file as UTF-8 "
                "(in Excel: 'CSV UTF-8')"
            )
            return
        except csv.Error as exc:
            sheet.problems.append(f"line {reader.line_num}: cannot read as CSV ({exc})")
            return
    if names is None:
        sheet.problems.append("the file is empty: it needs a header line")
        return
    sheet.cells = {name: [row[j] for row in rows] for j, name in enumerate(names)}
    progress.update(task, completed=path.stat().st_size)


def _width_message(record: list[str], width: int) -> str:
    values = f"{len(record)} value{'' if len(record) == 1 else 's'}"
    # A quote opened and never closed swallows the following lines into one cell.
    hint = " (an unclosed quote?)" if any("\n" in v for v in record) else ""
    return f"row has {values} but the header has {width} columns{hint}"


def _first_non_utf8_line(path: Path) -> int:
    """Only on the error path: the decoder reads in chunks, so it cannot say which line."""
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def _column_text(column: pa.ChunkedArray) -> list[str | None]:
    """A Parquet column as the text a CSV would hold: lists joined by ';', structs as JSON."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        values = column.to_pylist()
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        values = [
            None if v is None else ";".join(str(x) for x in v if x is not None)
            for v in column.to_pylist()
        ]
    elif pa.types.is_struct(kind) or pa.types.is_map(kind):
        values = [
            None if v is None else json.dumps(dict(v), default=str) for v in column.to_pylist()
        ]
    else:
        values = pc.cast(column, pa.string()).to_pylist()
    return [None if v is None else _clean(v) for v in values]


def _read_parquet(sheet: Sheet, progress: Progress) -> None:
    task = progress.add_task(f"reading {sheet.path.name}", total=None)
    try:
        table = pq.read_table(sheet.path)
    except (pa.ArrowException, OSError) as exc:
        sheet.problems.append(f"cannot read as Parquet ({exc})")
        return
    names = _check_header(sheet, table.column_names)
    if names is None:
        return
    try:
        # The header check ruled out blank and repeated names, so `names` lines up.
        sheet.cells = {name: _column_text(table.column(j)) for j, name in enumerate(names)}
    except (pa.ArrowException, TypeError) as exc:
        sheet.problems.append(f"a column cannot be read as text ({exc})")
        return
    sheet.row_numbers = list(range(1, table.num_rows + 1))
    progress.update(task, total=1, completed=1)
