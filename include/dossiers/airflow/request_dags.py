"""The DAGs that carry a destruction (Art. 17) or an external disclosure (Art. 16) through
approvals by named people: the approval chain (:func:`dossiers.airflow.approvals.approval_chain`),
then the work, then a task that always runs and copies the chain's outcome onto the request
(a rejection or a timeout rejects it; never an approval).

Built by functions, so a DAG file is one call (``dags/destruction.py``,
``dags/disclosure.py``); the tests build the same DAGs over their own folder. Nothing here
touches the database at parse time: the chains and their gates come from the permission
matrix (``dossiers.workflows.approval_chains``), the work is imported inside the tasks.

A run is started with the request's conf (``dossier destruction submit`` /
``dossier disclosure submit``). Its deadline alert covers every gate waiting its full
response timeout: a run still open after that is reported late.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, dag, get_current_context, task

from dossiers.airflow.approvals import approval_chain, request_of, request_params
from dossiers.airflow.dagkit import START, deadline, default_args
from dossiers.workflows.approval_chains import DESTRUCTION_STEPS, DISCLOSURE

#: After the last gate's timeout, the work itself: a run older than this is late.
WORK_MARGIN = timedelta(hours=4)

DESTRUCTION_DOC = """
# Destruction of dossiers

**What it does.** One run per Destruction Request Form: the CS head reviews, the head of
every department that worked with the clients re-checks, management approves, the QA
supervisor confirms (each a Required Action for exactly those people); then every dossier
is re-checked inside the destroying transaction and destroyed (rows, documents, data key),
leaving a tombstone.

**Why.** Art. 17(1)-(3).

**If it fails.** A rejection or a timeout (never an approval) rejects the form, with the
reason, in the ledger; a condition that changed since the request stops it (the task fails
naming it). Re-run nothing: prepare a new form.
"""

DISCLOSURE_DOC = """
# External disclosure

**What it does.** One run per disclosure request: management (the responsible leader) is
asked to approve; the outcome is recorded on the request. Nothing is packaged without it
(`dossier disclosure package` by Customer Service afterwards).

**Why.** Art. 16: external use never without management's approval.

**If it fails.** A rejection or a timeout rejects the request (in the ledger).
"""


def destruction_dag(dag_id: str = "dossier_destruction",
                    response_timeout: timedelta = timedelta(days=5)) -> DAG:
    @dag(dag_id=dag_id, schedule=None, start_date=START, catchup=False, max_active_runs=4,
         params=request_params(), doc_md=DESTRUCTION_DOC,
         tags=["dossier", "retention", "approval", "Art. 17"],
         default_args=default_args("customer_service"),
         deadline=deadline(response_timeout * len(DESTRUCTION_STEPS) + WORK_MARGIN))
    def dossier_destruction() -> None:
        @task
        def destroy() -> dict[str, Any]:
            from airflow.sdk.exceptions import AirflowFailException

            from dossiers.destruction import approvals, wiring
            from dossiers.destruction.execution import Stopped

            result = approvals.execute_approved(
                request_of(get_current_context(), "destruction"), **wiring.execution_seams())
            if isinstance(result, Stopped):
                raise AirflowFailException(f"stopped, nothing destroyed: {result.changed}")
            return result.as_dict()

        @task
        def close_request() -> str:
            """Always runs: the chain's outcome (a rejection, a timeout) onto the form."""
            from dossiers.core import db
            from dossiers.destruction import approvals

            with db.transaction() as conn:
                return approvals.apply_chain(conn, request_of(get_current_context(),
                                                              "destruction"))

        chain = approval_chain("destruction", steps=DESTRUCTION_STEPS,
                               response_timeout=response_timeout)
        chain >> destroy() >> close_request().as_teardown()

    made: DAG = dossier_destruction()
    return made


def disclosure_dag(dag_id: str = "dossier_disclosure",
                   response_timeout: timedelta = timedelta(days=3)) -> DAG:
    @dag(dag_id=dag_id, schedule=None, start_date=START, catchup=False, max_active_runs=4,
         params=request_params(), doc_md=DISCLOSURE_DOC,
         tags=["dossier", "disclosure", "approval", "Art. 16"],
         default_args=default_args("customer_service"),
         deadline=deadline(response_timeout * len(DISCLOSURE) + WORK_MARGIN))
    def dossier_disclosure() -> None:
        @task
        def record_outcome() -> str:
            from dossiers.core import db
            from dossiers.destruction import approvals

            with db.transaction() as conn:
                return approvals.apply_chain(conn, request_of(get_current_context(),
                                                              "disclosure"))

        approval_chain("disclosure", response_timeout=response_timeout) >> \
            record_outcome().as_teardown()

    made: DAG = dossier_disclosure()
    return made
