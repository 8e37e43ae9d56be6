"""``dossier policy``: the rules in force, each period, deadline and target with its article."""

from __future__ import annotations

import argparse

from dossiers.cli.shared import Group, command, noun, print_json
from dossiers.core.policy import policy


def cmd_policy_show(args: argparse.Namespace) -> int:
    print_json(policy().as_table())
    return 0


def register(nouns: Group) -> None:
    pol = noun(nouns, "policy", "the rules in force")
    command(pol, "show", cmd_policy_show, "every period, deadline and target with its article")
