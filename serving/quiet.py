"""Silence known deprecation chatter from libraries, so a job's own progress and summary show.

Called by the CLI at start and again after Feast is imported: Feast's modules run
`warnings.simplefilter("once", DeprecationWarning)` on import, which goes in front of any
filter set before it and brought ibis' and MLflow's warnings back into `lodestar demo`.
"""

import logging
import warnings


def quiet_third_parties() -> None:
    # ibis on DuckDB 2, MLflow on SQLAlchemy 2.1, Feast, Evidently: not ours to fix.
    warnings.filterwarnings(
        "ignore", category=DeprecationWarning, module=r"(ibis|feast|mlflow|evidently|litestar)"
    )
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(feast|mlflow)")
    # we use on-demand views on purpose, for one request's `as_of` (features/repo)
    warnings.filterwarnings("ignore", message="On demand feature view is an experimental")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    # we log models with cloudpickle on purpose (our own estimator class; see training/train.py)
    logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
