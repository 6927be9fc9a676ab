"""One input file on its way in: its cells, their parsed values, and what is wrong with which row.

Reading fills `cells`; `parse_cells` turns them into `values`; the cross-row checks add more
rejections; the writer takes the rows that have none. Rows are addressed by their position
(0-based index) internally and reported by the row number a person sees in the file.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from serving.core.importer.report import FileReport, Rejection
from serving.core.importer.schema import Schema


@dataclass
class Sheet:
    schema: Schema
    path: Path
    row_numbers: list[int] = field(default_factory=list)
    # Known columns only, each a list of stripped strings with None for an empty cell.
    cells: dict[str, list[str | None]] = field(default_factory=dict)
    values: dict[str, list[Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # Rows that could not even be split into the header's columns; kept out of `cells`.
    malformed: list[Rejection] = field(default_factory=list)
    issues: dict[int, list[tuple[str | None, str]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    written: int = 0

    @property
    def kind(self) -> str:
        return self.schema.kind

    @property
    def label(self) -> str:
        return self.path.name

    def __len__(self) -> int:
        return len(self.row_numbers)

    def reject(self, index: int, column: str | None, message: str) -> None:
        self.issues.setdefault(index, []).append((column, message))

    def is_valid(self, index: int) -> bool:
        return index not in self.issues

    def valid_indexes(self) -> list[int]:
        if self.problems:
            return []
        return [i for i in range(len(self)) if i not in self.issues]

    def row(self, index: int) -> dict[str, Any]:
        return {name: column[index] for name, column in self.values.items()}

    def report(self) -> FileReport:
        rejections = list(self.malformed) + [
            Rejection(self.label, self.row_numbers[i], column, message)
            for i, found in sorted(self.issues.items())
            for column, message in found
        ]
        return FileReport(
            kind=self.kind,
            path=self.path,
            read=len(self) + len(self.malformed),
            written=self.written,
            rejections=rejections,
            problems=list(self.problems),
            notes=list(self.notes),
        )


def parse_cells(sheet: Sheet) -> None:
    """Parse every column by its type; empty required cells are rejected, others get defaults."""
    n = len(sheet)
    for column in sheet.schema.columns:
        cells = pd.Series(sheet.cells.get(column.name, [None] * n), dtype=object)
        values, errors = column.field.parse(column.name, cells)
        parsed = values.to_numpy(dtype=object, copy=True)
        bad = errors.notna().to_numpy()
        for i in np.flatnonzero(bad):
            sheet.reject(int(i), column.name, errors.iat[i])
        empty = np.flatnonzero(cells.isna().to_numpy() & ~bad)
        if column.required:
            for i in empty:
                sheet.reject(int(i), column.name, f"{column.name} must not be empty")
        elif callable(column.default):
            for i in empty:
                parsed[i] = column.default()
        else:
            parsed[empty] = column.default
        sheet.values[column.name] = parsed.tolist()
