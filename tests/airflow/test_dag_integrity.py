"""Every DAG file parses, documents itself and stays cheap to parse (architecture: dags/).

Airflow runs in subprocesses with their own AIRFLOW_HOME, so this pytest process never
imports Airflow (whose settings and logging set-up would leak into other tests).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import imported_by, python_result

pytestmark = pytest.mark.airflow

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))

#: Never imported at parse time: heavy (GX, boto3, pandas) or touching the database. Checked
#: as "newly imported by the DAG file": Airflow core itself already loads SQLAlchemy.
BANNED_AT_PARSE = ("great_expectations", "boto3", "botocore", "pandas", "sqlalchemy", "psycopg",
                   "alembic", "dossiers.core.db", "dossiers.core.ledger", "dossiers.core.schema")

_DAGBAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization

bag = DagBag(dag_folder=sys.argv[1])
dags = {}
for dag_id, dag in bag.dags.items():
    restored = DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))
    dags[dag_id] = {
        "timetable": type(dag.timetable).__name__,
        "restored_timetable": type(restored.timetable).__name__,
        "deadline": bool(dag.deadline),
        "fileloc": dag.fileloc,
        "doc_md": dag.doc_md or "",
        "tags": sorted(dag.tags),
        "owners": sorted({t.owner for t in dag.tasks}),
        "retries": {t.task_id: t.retries for t in dag.tasks},
        "failure_callbacks": {t.task_id: bool(t.on_failure_callback) for t in dag.tasks},
    }
print("RESULT " + json.dumps({"import_errors": {str(k): v for k, v in bag.import_errors.items()},
                              "dags": dags}))
"""

@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("airflow-home")
    env = dict(os.environ)
    env.pop("DOSSIER_DEADLINE_ALERTS", None)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    })
    yield env


@pytest.fixture(scope="module")
def dagbag(airflow_env: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = python_result(_DAGBAG, str(DAGS), env=airflow_env)
    return result


def test_there_are_dag_files() -> None:
    assert DAG_FILES, "dags/ holds no DAG file"


def test_every_dag_file_imports_without_error(dagbag: dict[str, Any]) -> None:
    assert dagbag["import_errors"] == {}
    files_with_dags = {Path(d["fileloc"]).name for d in dagbag["dags"].values()}
    assert files_with_dags == {p.name for p in DAG_FILES}, "a file in dags/ defines no DAG"


def test_every_dag_is_documented_owned_tagged_and_retried(dagbag: dict[str, Any]) -> None:
    assert dagbag["dags"]
    for dag_id, dag in dagbag["dags"].items():
        assert len(dag["doc_md"].strip()) > 100, f"{dag_id}: doc_md missing or too short"
        assert dag["tags"], f"{dag_id}: no tags"
        assert dag["owners"] and "airflow" not in dag["owners"], f"{dag_id}: owner {dag['owners']}"
        for task_id, retries in dag["retries"].items():
            assert retries >= 1, f"{dag_id}.{task_id}: retries={retries}"
        for task_id, has_callback in dag["failure_callbacks"].items():
            assert has_callback, f"{dag_id}.{task_id}: no on_failure_callback"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_dag_file_imports_nothing_heavy(dag_file: Path, airflow_env: dict[str, str]) -> None:
    """Parsing a DAG file must not import GX, boto3, pandas or the database layer."""
    imported = imported_by(dag_file, after="airflow.sdk", env=airflow_env)
    heavy = sorted(m for m in imported if any(m == b or m.startswith(b + ".") for b in BANNED_AT_PARSE))
    assert heavy == [], f"{dag_file.name} imports at parse time: {heavy}"


def test_every_dag_serializes_with_its_schedule_and_has_a_deadline(dagbag: dict[str, Any]) -> None:
    """The scheduler runs serialized DAGs: a working-day timetable must survive the round
    trip (registered by the plugin); every duty reports a run that is late."""
    for dag_id, dag in dagbag["dags"].items():
        assert dag["restored_timetable"] == dag["timetable"], dag_id
        assert dag["deadline"], f"{dag_id}: no deadline alert"
    working_days = {d for d, dag in dagbag["dags"].items() if "WorkingDay" in dag["timetable"]}
    on_request = {d for d, dag in dagbag["dags"].items() if dag["timetable"] == "NullTimetable"}
    # destruction and disclosure run once per request (Arts. 16, 17), never on a schedule
    assert on_request == {"dossier_destruction", "dossier_disclosure"}
    # every other duty on working days, but the daily 06:00 ledger check and the daily 01:30
    # backup (Arts. 14, 18: holiday weeks too)
    assert len(working_days) == len(dagbag["dags"]) - len(on_request) - 2


def test_a_dag_with_an_approval_chain_imports_nothing_heavy(airflow_env: dict[str, str]) -> None:
    """Destruction and disclosure DAGs build their gates at parse time (issue 13): the chain,
    its steps, the matrix and the staff/Airflow-user mapping load without the database."""
    dag_file = REPO / "tests" / "airflow" / "approval_dags" / "approval_check.py"
    imported = imported_by(dag_file, after="airflow.sdk", env=airflow_env)
    heavy = sorted(m for m in imported if any(m == b or m.startswith(b + ".") for b in BANNED_AT_PARSE))
    assert heavy == [], f"an approval DAG imports at parse time: {heavy}"
