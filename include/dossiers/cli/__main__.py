"""``python -m dossiers.cli``: the same as the ``dossier`` script."""

import sys

from dossiers.cli import main

sys.exit(main())
