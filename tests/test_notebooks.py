"""Every notebook runs, top to bottom, against a small simulated world."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from serving.config import Settings
from serving.simulator import run_simulation

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.py"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("nb")
    settings = Settings(database_url=f"sqlite:///{tmp}/nb.db", data_dir=tmp / "data")
    run_simulation(settings, customers=1_500, days=60, seed=3, reset=True)
    return {"LODESTAR_DATABASE_URL": settings.database_url, "LODESTAR_DATA_DIR": str(tmp / "data")}


# What each notebook must show, beyond running cleanly.
EXPECT = {"01_simulated_world.py": "lead-scoring oracle ROC-AUC: "}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(notebook: Path, world: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, str(notebook)],
        env={**os.environ, **world},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    if notebook.name in EXPECT:
        value = float(result.stdout.split(EXPECT[notebook.name])[1].split()[0])
        assert 0.7 < value < 0.97  # informative, yet leaves models something to learn
