"""Import customers, orders, events and leads from CSV or Parquet files (`lodestar import`).

reading -> sheet (parse cells by schema/fields) -> checks (duplicates, references) -> writing,
driven by pipeline.run_import; report holds what the person running it sees.
"""

from serving.core.importer.pipeline import run_import
from serving.core.importer.report import FileReport, ImportReport, Rejection

__all__ = ["FileReport", "ImportReport", "Rejection", "run_import"]
