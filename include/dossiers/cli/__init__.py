"""The ``dossier`` command line (contract: ``shared/contracts/cli.md``).

Interface layer: parses arguments, calls one workflow function, maps domain errors to exit
codes (0 done, 1 refused or found something, 2 could not run). May import every layer below;
it is also the one production entry point allowed to use ``dossiers.local`` (``dossier seed``).

One module per noun (``db``, ``staff``, ``forms`` with ``import``, ``dossiers``, ``updates``,
``queries``, ``loans``, ``vault``, ``workdays``, ``ledger``, ``seed``, ``policy``), each with a
``register(nouns)`` and its handlers; ``shared`` holds what they share (``--as``, ``--json``,
printing, argument types) and ``app`` assembles the parser and maps errors to exit codes.
"""

from dossiers.cli.app import main

__all__ = ["main"]
