"""What every noun module of the CLI shares: the common options, the way a verb is
registered, argument types, and how a result is printed.

A noun module (``dossiers.cli.staff``, ``dossiers.cli.loans`` …) has one ``register(nouns)``
that adds its noun and verbs with :func:`noun` and :func:`command`, and one ``cmd_*`` handler
per verb. A handler returns the exit status of a command that ran (0 done, 1 found or
refused something); errors are raised, and :func:`dossiers.cli.app.main` alone turns them
into one line on stderr and an exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from functools import cache
from typing import Any, TypeAlias

from sqlalchemy import Connection

from dossiers.core import db, directory, paging
from dossiers.core.permissions import Actor
from dossiers.core.progress import Progress, no_progress
from dossiers.workflows.results import Result

Handler = Callable[[argparse.Namespace], int]
#: What ``ArgumentParser.add_subparsers`` returns: the group a noun's verbs are added to.
Group: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


@cache
def common_options() -> argparse.ArgumentParser:
    """``--as`` and ``--json``, accepted before the noun and after the verb alike.

    ``SUPPRESS`` defaults so that a sub-parser does not overwrite a value given before the
    noun; :func:`dossiers.cli.app.main` fills in the defaults.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--as", dest="acting_user", metavar="USERNAME",
                        default=argparse.SUPPRESS,
                        help="the staff member acting (default: $DOSSIER_USER)")
    common.add_argument("--json", dest="as_json", action="store_true", default=argparse.SUPPRESS,
                        help="print the result as JSON (what every workflow command prints; "
                             "`db upgrade` and `staff add` print one line without it)")
    return common


def noun(nouns: Group, name: str, help_: str, description: str | None = None) -> Group:
    """Add the noun ``dossier NAME`` and return the group its verbs are added to."""
    kwargs: dict[str, Any] = {"help": help_}
    if description is not None:
        kwargs["description"] = description
    verbs: Group = nouns.add_parser(name, **kwargs).add_subparsers(
        dest="verb", required=True, metavar="VERB")
    return verbs


def command(group: Group, name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
    """Add one command (a verb of a noun, or a noun of its own like ``import``)."""
    sub: argparse.ArgumentParser = group.add_parser(name, parents=[common_options()], help=help_,
                                                    description=help_)
    sub.set_defaults(handler=handler)
    return sub


#: A workflow's decision (:mod:`dossiers.workflows.decisions`): ``decide(conn, actor,
#: record_id, approve=…, reason=…)``.
Decide = Callable[..., Any]


def _deciding(record: str, decide: Decide, approves: Callable[[argparse.Namespace], bool],
              reason: Callable[[argparse.Namespace], str | None]) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        return acting(args, lambda conn, actor: decide(
            conn, actor, getattr(args, record), approve=approves(args), reason=reason(args)))

    return handler


def decision_commands(group: Group, record: str, record_type: Callable[[str], Any],
                      decide: Decide, *, approve: tuple[str, str],
                      reject: tuple[str, str]) -> None:
    """Two verbs deciding one kind of request: ``approve = (verb, help)`` and ``reject =
    (verb, help)``, the second with the ``--reason`` every rejection needs (the decision
    mechanism would refuse one without it; argparse asks for it first)."""
    handler = _deciding(record, decide, lambda args: args.verb == approve[0],
                        lambda args: getattr(args, "reason", None))
    command(group, approve[0], handler, approve[1]).add_argument(record, type=record_type)
    rejecting = command(group, reject[0], handler, reject[1])
    rejecting.add_argument(record, type=record_type)
    rejecting.add_argument("--reason", required=True)


def verdict_command(group: Group, name: str, help_: str, record: str,
                    record_type: Callable[[str], Any], decide: Decide) -> None:
    """One verb that approves (``--approve``) or rejects with the reason that goes back to
    the submitter (``--reject REASON``): a review."""
    handler = _deciding(record, decide, lambda args: args.reject is None,
                        lambda args: args.reject)
    parser = command(group, name, handler, help_)
    parser.add_argument(record, type=record_type)
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--approve", action="store_true")
    choice.add_argument("--reject", metavar="REASON")


def print_json(data: Any) -> None:
    """Print a result (a workflow's typed result, or a list of them) as JSON, with its
    fields in order; dates, times and ids as their ISO strings."""
    print(json.dumps(data, ensure_ascii=False, indent=2, default=_json_value))


def _json_value(value: Any) -> Any:
    return value.as_dict() if isinstance(value, Result) else str(value)


def acting(args: argparse.Namespace, work: Callable[[Connection, Actor], Any]) -> int:
    """Run ``work(conn, actor)`` in one transaction as the ``--as`` user; once it has
    committed, print its JSON (nothing is reported done that did not commit)."""
    with db.transaction() as conn:
        result = work(conn, directory.load_actor(conn, args.acting_user))
    print_json(result)
    return 0


@contextmanager
def progress(args: argparse.Namespace) -> Iterator[Progress]:
    """A progress bar on stderr for a long-running command (``import``, ``seed``, ``ledger
    verify``), shown only when stderr is a terminal and ``--json`` was not given: scripts,
    pipes and logs get exactly the output they always had. Leaves nothing behind on the
    terminal once the command is done (the result is printed after it)."""
    if getattr(args, "as_json", False) or not sys.stderr.isatty():
        yield no_progress
        return
    # Imported here: only a command on a terminal draws a bar, and rich takes a noticeable
    # part of the CLI's start-up that a script or a pipe should not pay for.
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
              TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    steps: dict[str, Any] = {}

    def report(step: str, done: int, total: int | None) -> None:
        if step not in steps:
            steps[step] = bar.add_task(step, total=total)
        bar.update(steps[step], completed=done, total=total)

    with bar:
        yield report


def words(*vocabularies: Iterable[str] | str) -> list[str]:
    """The ``choices`` of an option: the members of the vocabularies given (enums of
    :mod:`dossiers.core.vocabulary`, or a few of their members), and plain words such as
    ``open`` and ``all`` that a list command adds, in the order given."""
    return [str(word) for vocabulary in vocabularies
            for word in ([vocabulary] if isinstance(vocabulary, str) else vocabulary)]


def listing(args: argparse.Namespace, name: str,
            work: Callable[[Connection, Actor], paging.Page[Any]]) -> int:
    """Print one page of a list (``work`` runs as :func:`acting`'s does): the rows as a JSON
    array, as list commands always printed them; when more rows follow, one line on stderr
    says so and gives the cursor for ``--after``. With ``--json``, ``{"items": [...],
    "next": CURSOR or null}``, the API's shape."""
    with db.transaction() as conn:
        page = work(conn, directory.load_actor(conn, args.acting_user))
    if args.as_json:
        print_json({"items": page.items, "next": page.next})
    else:
        print_json(page.items)
    if page.next is not None:
        print(f"dossier: {name}: more after these {len(page.items)}; the next page: "
              f"--after {page.next}", file=sys.stderr)
    return 0


def page_options(parser: argparse.ArgumentParser) -> None:
    """``--limit N`` and ``--after CURSOR`` of a list command (:mod:`dossiers.core.paging`)."""
    parser.add_argument("--limit", type=page_limit, default=paging.DEFAULT_LIMIT, metavar="N",
                        help=f"rows to print (default {paging.DEFAULT_LIMIT}, at most "
                             f"{paging.MAX_LIMIT})")
    parser.add_argument("--after", metavar="CURSOR",
                        help="the next page: the cursor the page before gave (on stderr, or "
                             "as \"next\" with --json)")


# --- argument types -----------------------------------------------------------------------------

def page_limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not 1 <= limit <= paging.MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to {paging.MAX_LIMIT}, "
                                         f"not {value!r}")
    return limit


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {value!r}") from None


def record_id(value: str) -> uuid.UUID:
    """A form, update, grant or loan id."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an id (a UUID): {value!r}") from None
