"""``dossier db``: the database schema, and the embedded PostgreSQL of a development checkout."""

from __future__ import annotations

import argparse

from dossiers.cli.shared import Group, command, noun, print_json
from dossiers.core import db
from dossiers.local import stop


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    url = db.database_url()
    revision = db.upgrade(url)
    if args.as_json:
        print_json({"database": db.describe(url), "revision": revision})
    else:
        print(f"dossier database {db.describe(url)} is at revision {revision}")
    return 0


def cmd_db_stop(args: argparse.Namespace) -> int:
    # The local Airflow (make airflow) is stopped first: it holds connections to the server.
    for line in stop.stop_all():
        print(line)
    return 0


def register(nouns: Group) -> None:
    db_ = noun(nouns, "db", "the database schema")
    command(db_, "upgrade", cmd_db_upgrade, "create or migrate the schema to the newest version")
    command(db_, "stop", cmd_db_stop, "stop the embedded PostgreSQL under .dossier/ (and make airflow)")
