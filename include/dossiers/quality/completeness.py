"""Completeness of every dossier (Arts. 3, 10), checked by Great Expectations inside Postgres.

:func:`run_completeness` builds the GX objects at run time from the registry
(:data:`dossiers.quality.checks.CHECKS`) - a file context, the Postgres datasource, one
query asset over :data:`~dossiers.quality.checks.DOSSIER_ROWS_SQL`, one suite with an
expectation per check restricted to the check's stages by a ``row_condition`` - validates
it (SQL pushdown: every metric is a query in Postgres, no rows are pulled into pandas),
builds Data Docs and returns which dossier fails which check.

:func:`sql_completeness` computes the same failures with one hand-written SQL statement
over the same rows: the baseline of the benchmark and the cross-check of the tests.

The file context lives under ``<DOSSIER_HOME>/quality/gx`` unless a folder is given. Its
``great_expectations.yml`` holds the connection string only as ``${DOSSIER_GX_DATABASE_URL}``:
the URL (and its password) is put in the process environment for the duration of a run,
never written to disk.

GX is imported inside the functions that build its objects: importing it takes seconds, and
the duty modules that call this one are loaded by Airflow's tasks, not its DAG parser.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import text

from dossiers.core import db
from dossiers.core.config import home, settings
from dossiers.core.errors import CannotRun
from dossiers.quality import checks as registry
from dossiers.quality.checks import ERROR, INDEX_COLUMNS, Check, Expect

#: The environment variable the GX context reads the database URL from (``${…}`` in its yml).
GX_URL_VARIABLE = "DOSSIER_GX_DATABASE_URL"
DATASOURCE = "dossiers"
ASSET = "dossier_rows"
BATCH_DEFINITION = "all_dossiers"
SUITE = "dossier_completeness"
CHECKPOINT = "dossier_completeness"
DOCS_SITE = "local_site"
#: The columns GX names a failing row by: the dossier, and its stage (GX's index query leaves
#: the check's ``row_condition`` out, so :func:`fetch_failing_rows` applies it by the stage).
ROW_COLUMNS = (*INDEX_COLUMNS, "stage")
#: GX's session keeps the rows' temporary table in its own memory up to this size (about
#: 380 MB at a million dossiers), not in 8 MB of buffers over files: every one of GX's
#: metric queries and :func:`fetch_failing_rows` scans that table.
GX_TEMP_BUFFERS = "1GB"
#: GX 1.x severities: an ``error`` check fails as critical.
GX_SEVERITY = {"error": "critical", "warning": "warning"}


class Failure(NamedTuple):
    """One dossier failing one check."""

    dossier_id: uuid.UUID
    dossier_no: str
    check_id: str
    article: str
    dimension: str
    severity: str
    liaison_id: int


@dataclass(frozen=True)
class CompletenessResult:
    #: No dossier fails an ``error`` check (warnings are reported, they do not fail).
    success: bool
    #: Every failing (dossier, check), ordered by dossier number then registry order.
    failures: list[Failure]
    #: check id -> dossiers failing it (0 for a check every dossier passes).
    counts: dict[str, int]
    #: check id -> dossiers the check applied to (those in its stages).
    evaluated: dict[str, int]
    #: Data Docs' index.html (GX runs that build them), else None.
    data_docs: Path | None = None
    #: Wall-clock seconds of the phases of the run.
    seconds: dict[str, float] = field(default_factory=dict)


def current_checks() -> list[Check]:
    """The registry as it is now (read at call time, so a check added to it just runs)."""
    checks = list(registry.CHECKS)
    registry.validate(checks)
    return checks


def default_context_dir() -> Path:
    return home() / "quality"


# --- GX objects, built at run time ------------------------------------------------------------

def configure_context(context_dir: Path) -> Any:
    """The file context under ``context_dir`` (created on first use); no analytics, no
    progress bars."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(context_dir))
    if context.variables.analytics_enabled is not False or context.variables.progress_bars is None:
        context.variables.analytics_enabled = False
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    return context


def configure_datasource(context: Any) -> Any:
    """The Postgres datasource; its connection string is the ``${…}`` variable, never the URL.

    ``create_temp_table``: GX runs the rows query once into a temporary table and every
    metric reads that table; without it each of the ~50 metric queries re-runs the whole
    rows query (at a million dossiers ~3x the hand-written pass instead of ~1.35x: see
    BENCHMARKS.md)."""
    return context.data_sources.add_or_update_postgres(
        DATASOURCE, connection_string="${" + GX_URL_VARIABLE + "}", create_temp_table=True,
        kwargs={"connect_args": {"options": f"-c temp_buffers={GX_TEMP_BUFFERS}"}})


def configure_batch_definition(datasource: Any) -> Any:
    """The query asset (one row per dossier) and its whole-table batch, rebuilt every run so a
    changed query takes effect."""
    if any(asset.name == ASSET for asset in datasource.assets):
        datasource.delete_asset(ASSET)
    asset = datasource.add_query_asset(ASSET, query=registry.DOSSIER_ROWS_SQL.strip())
    return asset.add_batch_definition_whole_table(BATCH_DEFINITION)


def configure_expectation(check: Check) -> Any:
    """The check as a GX expectation: its stages as a row condition, its article, dimension
    and severity in ``meta`` (and GX's own ``severity``), its description in ``notes``."""
    import great_expectations as gx
    from great_expectations.expectations.row_conditions import Column

    cls = getattr(gx.expectations, check.expectation.type, None)
    if cls is None:
        raise ValueError(f"completeness check {check.id!r}: GX has no expectation "
                         f"{check.expectation.type!r}")
    return cls(
        **check.expectation.kwargs,
        row_condition=Column("stage").is_in(list(check.stages)),
        severity=GX_SEVERITY[check.severity],
        meta={"check_id": check.id, "article": check.article, "dimension": check.dimension,
              "severity": check.severity, "stages": list(check.stages)},
        notes=f"{check.id} ({check.article}, {check.dimension}, {check.severity}; "
              f"stages: {', '.join(check.stages)}): {check.description}",
    )


def configure_suite(context: Any, checks: Sequence[Check]) -> Any:
    """The suite, replaced whole from the registry (a removed check disappears too).

    The stored suite is deleted first and the new one added: ``add_or_update`` matches every
    expectation against every stored one, and a suite whose name is stored writes itself
    back on each ``add_expectation`` - 2 s instead of 0.1 s for 23 checks."""
    import great_expectations as gx
    from great_expectations.exceptions import DataContextError

    try:
        context.suites.delete(SUITE)
    except DataContextError:
        pass  # the first run
    suite = gx.ExpectationSuite(name=SUITE, meta={"policy": "Arts. 3, 8, 10, 14"})
    for check in checks:
        suite.add_expectation(configure_expectation(check))
    return context.suites.add(suite)


def configure_checkpoint(context: Any, batch_definition: Any, suite: Any) -> Any:
    """One validation of the suite over the batch. Per check GX returns its counts, a sample
    of :data:`DOCS_ROWS` failing rows (for Data Docs) and its own query for every failing
    row (``unexpected_index_query``), which :func:`fetch_failing_rows` runs. Data Docs are
    built after it (:func:`keep_trimmed`), not by a checkpoint action.

    Not ``COMPLETE``: GX would build every failing row into its result four times over (as
    dicts, then a deep copy and JSON for its store), 237,486 rows at a million dossiers;
    that Python work, not the SQL, was most of GX's time beyond the rows query (see
    BENCHMARKS.md, issue 16)."""
    import great_expectations as gx

    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=SUITE, data=batch_definition, suite=suite))
    return context.checkpoints.add_or_update(gx.Checkpoint(
        name=CHECKPOINT, validation_definitions=[validation], actions=[],
        result_format={"result_format": "SUMMARY",
                       "unexpected_index_column_names": list(ROW_COLUMNS),
                       "partial_unexpected_count": DOCS_ROWS,
                       "return_unexpected_index_query": True}))


class FailingRow(NamedTuple):
    """One row GX's index query returns: the index columns, then the checked value."""

    dossier_id: Any
    dossier_no: str
    liaison_id: int
    stage: str
    value: Any


def fetch_failing_rows(datasource: Any, outcome: Any,
                       checks: Sequence[Check]) -> dict[str, list[FailingRow]]:
    """Every failing row of every check, from GX's ``unexpected_index_query`` of the check
    (its own translation of the expectation into SQL) restricted to the check's stages, on
    GX's connection, whose session holds the batch's temporary table.

    The checks' conditions are read out of GX's queries and evaluated in one scan of that
    table (:func:`_one_scan`; 23 scans took 23 s at a million dossiers on a loaded machine);
    a query of another shape runs as GX wrote it (:func:`_query_by_query`).

    Must run before :func:`_close`. :func:`_collect` refuses the rows unless they are as
    many as GX counted (``unexpected_count``), so a query that GX built differently from
    its count (another row condition, another NULL rule) cannot under- or over-report."""
    by_id = {c.id: c for c in checks}
    engine = datasource.get_execution_engine()
    queries: list[tuple[Check, str]] = []
    for validation in outcome.run_results.values():
        for result in validation.results:
            query = (result.result or {}).get("unexpected_index_query")
            if isinstance(query, str) and _raised(result) is None:
                queries.append((by_id[result.expectation_config.meta["check_id"]], query))
            # else: _collect names the check that could not run
    parsed = [_INDEX_QUERY.match(query.strip()) for _, query in queries]
    tables = {m["table"] for m in parsed if m}
    if queries and len(tables) == 1 and all(
            m and m["columns"] == ", ".join([*ROW_COLUMNS, check.expectation.column])
            for (check, _), m in zip(queries, parsed, strict=True)):
        return _one_scan(engine, tables.pop(), [
            (check, m["condition"]) for (check, _), m in zip(queries, parsed, strict=True) if m])
    return _query_by_query(engine, queries)


#: GX's ``unexpected_index_query`` as SQLAlchemy compiles it for a column map expectation:
#: the index columns and the checked column, the batch's table, the unexpected condition.
_INDEX_QUERY = re.compile(
    r"^SELECT (?P<columns>[^\n]+) \nFROM (?P<table>[a-z_][a-z0-9_]*) \nWHERE (?P<condition>.+?);?$",
    re.S)


def _stages(check: Check) -> str:
    """The check's stages as a SQL list: vocabulary words (registry.validate), safe as
    literals."""
    return ", ".join(f"'{stage}'" for stage in check.stages)


def _literal(sql: str) -> Any:
    """SQL as a statement GX's engine runs: a colon in GX's literals is no bind parameter."""
    from sqlalchemy import text as sql_text

    return sql_text(sql.replace(":", "\\:"))


def _one_scan(engine: Any, table: str,
              conditions: list[tuple[Check, str]]) -> dict[str, list[FailingRow]]:
    """Each failing dossier once, with the checks it fails and their values."""
    failing = [f"(stage IN ({_stages(check)}) AND ({condition}))"
               for check, condition in conditions]
    which = ", ".join(f"CASE WHEN {f} THEN jsonb_build_array({i}, {check.expectation.column}) END"
                      for i, ((check, _), f) in enumerate(zip(conditions, failing, strict=True)))
    rows: dict[str, list[FailingRow]] = {check.id: [] for check, _ in conditions}
    statement = (f"SELECT {', '.join(ROW_COLUMNS)}, array_remove(ARRAY[{which}], NULL) "
                 f"FROM {table} WHERE {' OR '.join(failing)}")
    for dossier_id, dossier_no, liaison_id, stage, failed in engine.execute_query(
            _literal(statement)):
        for number, value in failed:
            rows[conditions[number][0].id].append(
                FailingRow(dossier_id, dossier_no, liaison_id, stage, value))
    return rows


def _query_by_query(engine: Any, queries: list[tuple[Check, str]]
                    ) -> dict[str, list[FailingRow]]:
    """Each check's failing rows by GX's own query, in the check's stages."""
    return {check.id: [FailingRow(*r) for r in engine.execute_query(_literal(
                f"SELECT * FROM ({query.strip().rstrip(';')}) AS failing "
                f"WHERE failing.stage IN ({_stages(check)})")).fetchall()]
            for check, query in queries}


def keep_trimmed(context: Any, outcome: Any, *, data_docs: bool) -> None:
    """Store the run's result again with at most :data:`DOCS_ROWS` failing rows per check,
    then (``data_docs``) build its Data Docs page and the index from it.

    GX stores a result as it returns it: with every failing row four times over (the index
    list and the partial lists), 10.9 MB at 100,000 dossiers, about 100 MB at a million, for
    every kept run. The per-dossier failures are taken from the run first
    (:func:`run_completeness`) and go to the liaisons and the findings; Data Docs show the
    counts, and GX renders only a sample of the rows anyway."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    for key, validation in outcome.run_results.items():
        for result in validation.results:
            for name in _ROW_LISTS:
                rows = result.result.get(name)
                if isinstance(rows, list) and len(rows) > DOCS_ROWS:
                    result.result[name] = rows[:DOCS_ROWS]
        context.validation_results_store.set(key, validation)
        if data_docs:
            context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=[
                key, ExpectationSuiteIdentifier(name=validation.suite_name)])


#: The failing-row lists of a GX result, cut to :data:`DOCS_ROWS` before it is kept.
_ROW_LISTS = ("unexpected_index_list", "partial_unexpected_index_list",
              "partial_unexpected_list", "partial_unexpected_counts", "unexpected_list")
#: Failing rows per check kept for Data Docs (GX's own default sample).
DOCS_ROWS = 20


def prune_results(context: Any, keep: int) -> int:
    """Delete this suite's validation results except those of the newest ``keep`` runs;
    returns the number of runs deleted.

    :func:`run_completeness` calls it just before validating, with ``DOSSIER_GX_KEEP_RUNS``
    minus one, so the run leaves the newest N. The run's Data Docs build
    (:func:`keep_trimmed`) then rebuilds the index, and GX's index builder deletes the page
    of every result that is gone and links only the rest (pruning after the run would need
    a second index build). A run with ``data_docs=False`` prunes results only; the next run
    that builds Data Docs deletes their pages.

    Costs grow with the number of stored runs, not with dossiers: GX's store lists keys
    (file names; the run time in them orders the runs) and deletes results without reading
    them.
    """
    store = context.validation_results_store
    runs: dict[tuple[str, ...], list[Any]] = {}
    for key in store.list_keys():
        if key.expectation_suite_identifier.name == SUITE:
            runs.setdefault(key.run_id.to_tuple(), []).append(key)
    newest_first = sorted(runs.values(), key=lambda keys: keys[0].run_id.run_time, reverse=True)
    old = newest_first[max(keep, 0):]
    for keys in old:
        for key in keys:
            store.remove_key(key)
    # File-system fallback: GX's TupleFilesystemStoreBackend.remove_key means to delete the
    # folders it empties (rrmdir), but its test ``not Path(...).iterdir()`` (a generator) is
    # never true in GX 1.24, so one empty folder per run would stay in the results store and
    # in the site. GX has no other API that removes them.
    results_root = getattr(store.store_backend, "full_base_directory", None)
    index = _docs_index(context)
    for root in (results_root, index and index.parent / "validations"):
        if root and Path(root).is_dir():
            _remove_empty_folders(Path(root))
    return len(old)


def _remove_empty_folders(root: Path) -> None:
    """Empty folders under ``root`` (not ``root`` itself), deepest first."""
    for folder, _, _ in os.walk(root, topdown=False):
        if Path(folder) != root:
            try:
                os.rmdir(folder)
            except OSError:
                pass  # not empty


@contextmanager
def _exclusive(context_dir: Path) -> Iterator[None]:
    """One run at a time per context folder: runs rewrite the suite, the asset and the
    checkpoint (duties of the same day may start together on one worker)."""
    context_dir.mkdir(parents=True, exist_ok=True)
    with (context_dir / ".run.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def _connection_variable(url: str) -> Iterator[None]:
    """The URL in the environment (where the context's ``${…}`` finds it) for one run only."""
    saved = os.environ.get(GX_URL_VARIABLE)
    os.environ[GX_URL_VARIABLE] = url
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(GX_URL_VARIABLE, None)
        else:
            os.environ[GX_URL_VARIABLE] = saved


def _close(datasource: Any) -> None:
    """Close GX's connections: the datasource's engine and the execution engine's own one,
    whose session holds the temporary table (left to the garbage collector, a run would
    leave a connection open, and the table in it, until the process ends)."""
    datasource.get_engine().dispose()
    datasource.get_execution_engine().close()


def _docs_index(context: Any) -> Path | None:
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    for site in context.get_docs_sites_urls(site_name=DOCS_SITE):
        url = site.get("site_url")
        if url and url.startswith("file:"):
            return Path(url2pathname(urlparse(url).path))
    return None


def _raised(result: Any) -> str | None:
    """The error message when GX could not evaluate an expectation (it then reports failure
    without any failing row: never take that for a pass or a plain failure)."""
    info = result.exception_info or {}
    infos = [info] if "raised_exception" in info else list(info.values())
    for i in infos:
        if isinstance(i, dict) and i.get("raised_exception"):
            return str(i.get("exception_message") or "unknown error").splitlines()[0]
    return None


def run_completeness(database_url: str | None = None, *, context_dir: Path | None = None,
                     checks: Sequence[Check] | None = None,
                     data_docs: bool = True) -> CompletenessResult:
    """Validate every registered check with GX on the dossier database; per-dossier failures.

    Connects as the URL's user (the datasource needs SELECT on the dossier tables). Raises
    :class:`CannotRun` when the database is unreachable or a check cannot be evaluated (a
    column missing from the rows query, say), naming the check.
    """
    url = db.normalise_url(database_url) if database_url else db.database_url()
    checks = list(checks) if checks is not None else current_checks()
    registry.validate(checks)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    context_dir = context_dir or default_context_dir()
    with _exclusive(context_dir), _connection_variable(url):
        context = configure_context(context_dir)
        prune_results(context, settings().gx_keep_runs - 1)  # this run adds the N-th
        try:
            datasource = configure_datasource(context)
        except Exception as exc:  # GX tests the connection when the datasource is added
            raise CannotRun(f"completeness: cannot connect to {db.describe(url)}: "
                            f"{str(exc).splitlines()[0]}") from None
        try:
            batch_definition = configure_batch_definition(datasource)
            checkpoint = configure_checkpoint(context, batch_definition,
                                              configure_suite(context, checks))
            seconds["setup"] = time.perf_counter() - started
            started = time.perf_counter()
            outcome = checkpoint.run()
            seconds["validate"] = time.perf_counter() - started
            started = time.perf_counter()
            rows = fetch_failing_rows(datasource, outcome, checks)
            seconds["failing_rows"] = time.perf_counter() - started
        finally:
            _close(datasource)
        failures, counts, evaluated = _collect(outcome, checks, rows)
        started = time.perf_counter()
        keep_trimmed(context, outcome, data_docs=data_docs)
        seconds["keep_and_docs" if data_docs else "keep"] = time.perf_counter() - started
    return CompletenessResult(
        success=not any(f.severity == ERROR for f in failures),
        failures=_ordered(failures, checks), counts=counts, evaluated=evaluated,
        data_docs=_docs_index(context) if data_docs else None, seconds=seconds)


def _collect(outcome: Any, checks: Sequence[Check], failing: dict[str, list[FailingRow]]
             ) -> tuple[list[Failure], dict[str, int], dict[str, int]]:
    """Every failing (dossier, check) of the run, and per check how many failed and how many
    dossiers it applied to; refuses a result GX could not evaluate, and failing rows that
    are not as many as GX counted. Puts the kept sample into each GX result
    (:func:`_sample`)."""
    by_id = {c.id: c for c in checks}
    failures: list[Failure] = []
    counts: dict[str, int] = {c.id: 0 for c in checks}
    evaluated: dict[str, int] = {c.id: 0 for c in checks}
    for validation in outcome.run_results.values():
        for result in validation.results:
            check = by_id[result.expectation_config.meta["check_id"]]
            error = _raised(result)
            if error is not None:
                raise CannotRun(f"completeness check {check.id!r} could not run: {error}")
            rows = failing.get(check.id)
            expected = result.result.get("unexpected_count", 0)
            if rows is None or len(rows) != expected:
                raise CannotRun(f"completeness check {check.id!r}: GX counted {expected} "
                                f"failing rows, its query returned "
                                f"{'none' if rows is None else len(rows)}")
            counts[check.id] = len(rows)
            evaluated[check.id] = result.result.get("element_count", 0)
            failures.extend(_failure(r.dossier_id, r.dossier_no, r.liaison_id, check)
                            for r in rows)
            _sample(result.result, rows, check.expectation.column)
    return failures, counts, evaluated


def _sample(result: dict[str, Any], rows: list[FailingRow], column: str) -> None:
    """The GX result as it is kept and shown in Data Docs: the first :data:`DOCS_ROWS`
    failing rows (as GX's ``COMPLETE`` lists, cut), and the most common failing values
    counted over all of them, as GX counts them."""
    result.pop("unexpected_index_query", None)  # names GX's temporary table, gone by now
    sample = rows[:DOCS_ROWS]
    result["unexpected_list"] = result["partial_unexpected_list"] = [r.value for r in sample]
    result["unexpected_index_list"] = result["partial_unexpected_index_list"] = [
        {**dict(zip(ROW_COLUMNS, r[:len(ROW_COLUMNS)], strict=True)), column: r.value}
        for r in sample]
    try:
        common = Counter(r.value for r in rows).most_common(DOCS_ROWS)
        result["partial_unexpected_counts"] = [
            {"value": value, "count": n} for value, n in sorted(common, key=lambda i: (-i[1], i[0]))]
    except TypeError:  # values that do not order (None beside numbers): GX's order, unsorted
        result["partial_unexpected_counts"] = [{"value": v, "count": n} for v, n in common]


def _failure(dossier_id: Any, dossier_no: str, liaison_id: int, check: Check) -> Failure:
    if not isinstance(dossier_id, uuid.UUID):
        dossier_id = uuid.UUID(str(dossier_id))
    return Failure(dossier_id, dossier_no, check.id, check.article, check.dimension,
                   check.severity, liaison_id)


def _ordered(failures: list[Failure], checks: Sequence[Check]) -> list[Failure]:
    position = {c.id: i for i, c in enumerate(checks)}
    return sorted(failures, key=lambda f: (f.dossier_no, position[f.check_id]))


# --- the same in one hand-written SQL statement ----------------------------------------------

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_BETWEEN_KEYS = {"column", "min_value", "max_value", "strict_min", "strict_max"}


def _failing_predicate(check: Check, i: int, params: dict[str, Any]) -> str:
    """SQL that is true for a row of ``r`` that the check's expectation counts as unexpected
    (GX semantics: a NULL is never 'unexpected' for a range)."""
    e: Expect = check.expectation
    column = e.column
    if not _IDENTIFIER.match(column):
        raise ValueError(f"completeness check {check.id!r}: bad column name {column!r}")
    col = f"r.{column}"
    if e.type == "ExpectColumnValuesToNotBeNull" and set(e.kwargs) == {"column"}:
        return f"{col} IS NULL"
    if e.type == "ExpectColumnValuesToBeBetween" and set(e.kwargs) <= _BETWEEN_KEYS:
        outside = []
        if e.kwargs.get("min_value") is not None:
            params[f"min_{i}"] = e.kwargs["min_value"]
            outside.append(f"{col} {'<=' if e.kwargs.get('strict_min') else '<'} :min_{i}")
        if e.kwargs.get("max_value") is not None:
            params[f"max_{i}"] = e.kwargs["max_value"]
            outside.append(f"{col} {'>=' if e.kwargs.get('strict_max') else '>'} :max_{i}")
        if outside:
            return f"{col} IS NOT NULL AND ({' OR '.join(outside)})"
    raise NotImplementedError(
        f"completeness check {check.id!r}: the SQL pass does not translate {e.type} with "
        f"{sorted(e.kwargs)}; supported: {', '.join(registry.SUPPORTED_EXPECTATIONS)}")


def failing_rows_sql(checks: Sequence[Check]) -> tuple[str, dict[str, Any]]:
    """One statement over the dossier rows: a row per failing (dossier, check number), and a
    row with a NULL check number for a dossier failing nothing (so stages can be counted)."""
    params: dict[str, Any] = {}
    values = []
    for i, check in enumerate(checks):
        params[f"stages_{i}"] = list(check.stages)
        values.append(f"({i}, r.stage = ANY(:stages_{i}) AND ({_failing_predicate(check, i, params)}))")
    lateral = (f"LEFT JOIN LATERAL (VALUES {', '.join(values)}) AS v(check_no, failed) ON v.failed"
               if values else "LEFT JOIN LATERAL (SELECT NULL::int AS check_no) AS v ON false")
    sql = (f"WITH r AS MATERIALIZED ({registry.DOSSIER_ROWS_SQL})\n"
           f"SELECT r.dossier_id, r.dossier_no, r.liaison_id, r.stage, v.check_no\n"
           f"FROM r {lateral}")
    return sql, params


def sql_completeness(database_url: str | None = None, *,
                     checks: Sequence[Check] | None = None) -> CompletenessResult:
    """The registered checks computed by one SQL statement (no GX): same failures as
    :func:`run_completeness`, no Data Docs. Runs as the application role."""
    checks = list(checks) if checks is not None else current_checks()
    registry.validate(checks)
    sql, params = failing_rows_sql(checks)
    started = time.perf_counter()
    with db.get_engine(database_url).connect() as conn:
        rows = conn.execute(text(sql), params).all()
    seconds = {"validate": time.perf_counter() - started}
    by_stage: dict[str, set[uuid.UUID]] = {}
    failures = []
    for row in rows:
        by_stage.setdefault(row.stage, set()).add(row.dossier_id)
        if row.check_no is not None:
            failures.append(_failure(row.dossier_id, row.dossier_no, row.liaison_id,
                                     checks[row.check_no]))
    failing = Counter(f.check_id for f in failures)
    return CompletenessResult(
        success=not any(f.severity == ERROR for f in failures),
        failures=_ordered(failures, checks),
        counts={c.id: failing[c.id] for c in checks},
        evaluated={c.id: sum(len(by_stage.get(s, ())) for s in c.stages) for c in checks},
        seconds=seconds)
