"""drawnet: one ``drawnet COMMAND`` for every stage of the pipeline (``drawnet.cli``).

The pipeline's own packages are ``scraping``, ``datasets``, ``training``, ``evaluation`` and
``curation``; this one only dispatches to them, importing a stage when its command runs.
"""
from scraping.cli import version

__version__ = version()
