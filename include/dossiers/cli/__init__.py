"""The ``dossier`` command line (contract: ``shared/contracts/cli.md``).

Interface layer: parses arguments, calls one workflow function, maps domain errors to exit
codes (0 done, 1 refused or found something, 2 could not run). May import every layer below;
it is also the one production entry point allowed to use ``dossiers.local`` (``dossier seed``).
"""

from dossiers.cli.commands import main

__all__ = ["main"]
