"""``dossier seed``: a synthetic company for development and demos (the one production
command allowed to use ``dossiers.local``)."""

from __future__ import annotations

import argparse

from dossiers.cli.shared import Group, command, print_json, progress
from dossiers.local.seed import seed_company


def cmd_seed(args: argparse.Namespace) -> int:
    with progress(args) as report:
        summary = seed_company(clients=args.clients, seed=args.seed, progress=report)
    print_json(summary)
    return 0


def register(nouns: Group) -> None:
    seed = command(nouns, "seed", cmd_seed,
                   "make a synthetic company with a year of history and realistic defects")
    seed.add_argument("--clients", type=int, default=200)
    seed.add_argument("--seed", type=int, default=2026)
