"""`lodestar import`: read, check, then write everything in one transaction, or nothing.

By default one rejected row anywhere means nothing is written: a partial import (customers in,
their orders not) is harder to repair than a file to fix and re-run. With skip_invalid the valid
rows are written and the rejected ones reported. A file that cannot be used as a whole (wrong
extension, unknown or missing columns, not UTF-8) stops the import either way.
"""

from collections.abc import Iterable
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from serving.config import Settings
from serving.core.db import make_engine, make_sessionmaker, session_scope
from serving.core.importer.checks import check_sheets
from serving.core.importer.reading import read_sheet
from serving.core.importer.report import ImportReport
from serving.core.importer.schema import SCHEMAS
from serving.core.importer.sheet import Sheet, parse_cells
from serving.core.importer.writing import write_sheets
from serving.core.migrate import upgrade

# Below this total size the import takes about a second: a progress bar would only flicker.
PROGRESS_MIN_BYTES = 2_000_000


def run_import(
    settings: Settings,
    *,
    customers: Path | None = None,
    orders: Path | None = None,
    events: Path | None = None,
    leads: Path | None = None,
    skip_invalid: bool = False,
) -> ImportReport:
    """Import the given files into the core database and report what happened to each row."""
    given = {"customers": customers, "orders": orders, "events": events, "leads": leads}
    paths = {kind: path for kind, path in given.items() if path is not None}
    report = ImportReport(skip_invalid=skip_invalid)
    if not paths:
        report.problems.append("no files given (use --customers, --orders, --events, --leads)")
        return report
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with _progress(paths.values()) as progress:
            sheets = {kind: read_sheet(SCHEMAS[kind], p, progress) for kind, p in paths.items()}
            _import(engine, sheets, report, progress)
    finally:
        engine.dispose()
    report.files = [sheet.report() for sheet in sheets.values()]
    return report


def _import(
    engine: Engine, sheets: dict[str, Sheet], report: ImportReport, progress: Progress
) -> None:
    checking = progress.add_task("checking rows", total=None)
    for sheet in sheets.values():
        if not sheet.problems:
            parse_cells(sheet)
    # One transaction for the checks and the writes: on SQLite (BEGIN IMMEDIATE) nothing can
    # slip in between; elsewhere the unique constraints catch what does.
    with session_scope(make_sessionmaker(engine, write=True)) as session:
        index = check_sheets(session, sheets)
        progress.update(checking, total=1, completed=1)
        if any(s.problems for s in sheets.values()):
            return
        rejected = any(s.issues or s.malformed for s in sheets.values())
        if rejected and not report.skip_invalid:
            return
        try:
            write_sheets(session, sheets, index, progress)
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            for sheet in sheets.values():
                sheet.written = 0
                sheet.notes.clear()
            report.problems.append(
                f"the database refused a row ({exc.orig}); was something else writing the "
                "same customers or orders at the same time? Run the import again."
            )


def _progress(paths: Iterable[Path]) -> Progress:
    """Bars on stderr, shown only for large files; they vanish when done, the report stays."""
    total = sum(p.stat().st_size for p in paths if p.is_file())
    return Progress(
        console=Console(stderr=True), transient=True, disable=total < PROGRESS_MIN_BYTES
    )
