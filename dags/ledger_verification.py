"""Daily ledger verification (檔案管理臺賬, Arts. 11, 13): re-hash the whole chain at 06:00.

Thin by design: schedule, documentation and one task that calls
:func:`dossiers.duties.ledger_check.verify_ledger`. Nothing here touches the database or
imports anything heavy at parse time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable, ExceptionRetryPolicy, RetryAction, RetryRule, dag, task

from dossiers.airflow.dagkit import deadline
from dossiers.airflow.notify import on_failure

DOC_MD = """
# Dossier ledger verification (檔案管理臺賬)

**What it does.** Every day at 06:00 (Asia/Shanghai) it re-hashes the whole dossier ledger
— the hash-chained, append-only record of every change to a dossier, a form, a staff
member or a key — and checks the chain head and checkpoints against the anchor kept outside
the database (`DOSSIER_LEDGER_ANCHOR`, default `$DOSSIER_HOME/ledger.anchor`: the same file as
`dossier ledger verify`). When the chain is sound the anchor moves forward to today's head.
The first run starts the anchor, and its log warns that nothing was compared that day.

**Why.** The policy requires the archivist to keep the dossier ledger (Art. 11) and every
update of a dossier to be recorded in it (Art. 13). A ledger that does not chain means a
record was altered, deleted or re-written outside the system.

**What a failure means.** A failed run whose error says `LedgerBroken … entry seq N is
broken: <reason>` means the ledger was tampered with at entry *N* (or, if the reason
says the ledger diverges from the anchor between seq *A* and seq *B*, the chain was re-written
from an entry after *A*, at or before *B*). It is never retried into success.
Any other error (cannot connect, permission) means the check could not run: fix that and
clear the task.

**What to do.**
1. Run `dossier ledger verify` (it prints the entries checked and the first broken entry).
2. Read the first broken entry (`seq`, `reason`); do not modify the ledger or the anchor.
3. Escalate at once to the head of Customer Service and the QA supervisor (Arts. 11, 13),
   with the run id and the output of step 1.
"""

#: Retries are for an unreachable database; a broken chain will not mend itself.
NOT_TRANSIENT = ExceptionRetryPolicy(rules=[RetryRule(
    exception="dossiers.duties.ledger_check.LedgerBroken", action=RetryAction.FAIL,
    reason="the ledger is broken: retrying cannot mend it (Arts. 11, 13)",
)])


@dag(
    dag_id="dossier_ledger_verification",
    schedule=CronTriggerTimetable("0 6 * * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["dossier", "ledger", "Art. 11", "Art. 13"],
    deadline=deadline(timedelta(hours=1)),
    default_args={
        "owner": "customer_service",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "on_failure_callback": on_failure,
    },
)
def dossier_ledger_verification() -> None:
    @task(retry_policy=NOT_TRANSIENT)
    def verify_ledger() -> dict[str, Any]:
        """Re-hash the ledger; fail naming the first broken entry (Arts. 11, 13)."""
        from dossiers.core.config import settings
        from dossiers.duties import ledger_check

        return ledger_check.verify_ledger(ledger_check.dossier_db_url(),
                                          anchor_file=settings().ledger_anchor)

    verify_ledger()


dossier_ledger_verification()
