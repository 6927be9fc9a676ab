"""What an import did, file by file: counts and rejected rows, for the person who ran it."""

from dataclasses import dataclass, field
from pathlib import Path

# Enough to see the pattern of a mistake without scrolling past a thousand copies of it.
MAX_SHOWN_ROWS = 20


@dataclass(frozen=True)
class Rejection:
    """One problem on one row.

    `row` is the number a person sees in the file: for CSV the header is row 1, so the first
    record is row 2 (the line where the record starts); for Parquet the first record is row 1.
    `column` is None when the problem is the row as a whole (wrong number of values, duplicate).
    """

    file: str
    row: int
    column: str | None
    message: str


@dataclass
class FileReport:
    kind: str  # customers | orders | events | leads
    path: Path
    read: int = 0
    written: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    # Problems with the file as a whole (unreadable, unknown or missing columns): none of its
    # rows can be trusted, so the whole import stops, --skip-invalid or not.
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        if self.problems:
            return self.read
        return len({r.row for r in self.rejections})

    @property
    def accepted(self) -> int:
        return self.read - self.rejected

    def __str__(self) -> str:
        lines = [
            f"{self.kind} ({self.path}): {self.read} read, {self.accepted} accepted, "
            f"{self.rejected} rejected, {self.written} written"
        ]
        lines += [f"  error: {p}" for p in self.problems]
        shown = sorted({r.row for r in self.rejections})[:MAX_SHOWN_ROWS]
        for rejection in sorted(self.rejections, key=lambda r: r.row):
            if rejection.row in shown:
                lines.append(f"  row {rejection.row}: {rejection.message}")
        hidden = self.rejected - len(shown)
        if hidden > 0 and not self.problems:
            lines.append(f"  ... and {hidden} more rejected row{'s' if hidden != 1 else ''}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass
class ImportReport:
    """`ok` is what the CLI's exit code says.

    True when nothing was rejected, or when --skip-invalid was given and at least one row was
    written. A run that wrote nothing because of rejections, a bad file or a database refusal is
    not ok, so a script notices that its data did not arrive.
    """

    files: list[FileReport] = field(default_factory=list)
    skip_invalid: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def written(self) -> int:
        return sum(f.written for f in self.files)

    @property
    def rejected_rows(self) -> list[Rejection]:
        return [r for f in self.files for r in f.rejections]

    @property
    def ok(self) -> bool:
        if self.problems or any(f.problems for f in self.files):
            return False
        return self.rejected == 0 or (self.skip_invalid and self.written > 0)

    def summary(self) -> str:
        """The last line: what happened, and what to do about it."""
        if self.problems:
            return "Nothing was written: " + "; ".join(self.problems)
        bad_files = [f for f in self.files if f.problems]
        if bad_files:
            return (
                f"Nothing was written: {_plural(len(bad_files), 'file')} could not be used "
                "(see the errors above). --skip-invalid skips bad rows, not bad files."
            )
        rejected = self.rejected
        were = f"{_plural(rejected, 'row')} {'was' if rejected == 1 else 'were'} rejected"
        if rejected and not self.skip_invalid:
            return (
                f"Nothing was written: {were} and the import is all-or-nothing.\n"
                "Fix the rows listed above and run it again, or pass --skip-invalid to write "
                "only the valid rows."
            )
        if rejected and self.written == 0:
            return f"Nothing was written: all {were}."
        if self.read == 0:
            return "Nothing to write: the files have no rows."
        done = ", ".join(
            f"{f.written} {f.kind[:-1] if f.written == 1 else f.kind}" for f in self.files
        )
        if rejected:
            return f"Imported {done}; skipped {_plural(rejected, 'rejected row')} (--skip-invalid)."
        return f"Imported {done}."

    def __str__(self) -> str:
        return "\n".join([*(str(f) for f in self.files), "", self.summary()]).lstrip("\n")


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
