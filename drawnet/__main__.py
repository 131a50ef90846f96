"""``python -m drawnet COMMAND ...``: the same as the ``drawnet`` console script."""
import sys

from .cli import main

sys.exit(main())
