"""``drawnet COMMAND [OPTIONS]``: every command of the pipeline under one name.

``drawnet finetune --epochs 239`` is ``python -m training.finetune --epochs 239``: the same parser
(``get_args_parser()``), the same ``main(args)`` and exit codes (``scraping.cli``), only the program
name in messages differs. A command's module is imported when it runs, so ``drawnet finetune`` on
a GPU machine never imports FiftyOne, and ``drawnet --help`` imports no stage at all.
"""
from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import importlib.util
import re
import sys

from scraping.cli import EXIT_FAILURE, EXIT_USAGE, check_own_datasets, version

# command -> module, grouped by the pipeline's stages in order
STAGES: dict[str, dict[str, str]] = {
    "scraping": {"library": "scraping.library", "crawl": "scraping.crawl"},
    "datasets": {"lexicon": "datasets.lexicon", "vocabulary": "datasets.vocabulary", "build": "datasets.build",
                 "licenses": "datasets.licenses", "subsets": "datasets.subsets"},
    "training": {"finetune": "training.finetune", "adapt": "training.adapt", "compare": "training.compare"},
    "evaluation": {"extract": "evaluation.extract", "verify": "evaluation.verify",
                   "baseline": "evaluation.baseline", "svm": "evaluation.svm", "head": "evaluation.head",
                   "report": "evaluation.report", "suggest": "evaluation.suggest"},
    "curation": {"load": "curation.load", "app": "curation.app", "embed": "curation.embed",
                 "hygiene": "curation.hygiene", "mappings": "curation.mappings", "workload": "curation.workload",
                 "writeback": "curation.writeback", "export": "curation.export", "log": "curation.log"},
}
COMMANDS: dict[str, str] = {name: module for stage in STAGES.values() for name, module in stage.items()}


def summary(module: str) -> str:
    """The first line of a command module's docstring, read from its source without importing it."""
    spec = importlib.util.find_spec(module)
    with open(spec.origin, encoding="utf-8") as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    first = re.sub(r"^`*python -m [\w.]+`*:\s*", "", first)
    return first[:1].upper() + first[1:]


def overview() -> str:
    """``drawnet --help``: the user's day, then every command by stage with its one-line summary."""
    lines = ["usage: drawnet COMMAND [OPTIONS]   (drawnet COMMAND --help for a command's options)", "",
             "Your day, in the folder you work in (the workspace):",
             "  drawnet app                    1. curate classes visually in the FiftyOne App",
             "  drawnet finetune --epochs 239  2. train on the dataset as curated now, evaluate, write back",
             "  drawnet app                    3. browse per-class failures", ""]
    for stage, commands in STAGES.items():
        lines.append(f"{stage}:")
        lines += [f"  {name:<11}{summary(module)}" for name, module in commands.items()]
    lines += ["", "  --version  print drawnet's version", "  -h, --help show this message",
              "Each `drawnet NAME` is also `python -m <package>.<name>` (the module listed in docs/reference.md)."]
    return "\n".join(lines)


def named(parser: argparse.ArgumentParser, prog: str) -> argparse.ArgumentParser:
    """The parser, and its sub-commands' parsers, renamed ``prog`` (argparse names a sub-parser when it is made)."""
    parser.prog = prog
    for action in parser._actions:  # argparse has no public accessor for sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                sub.prog = f"{prog} {name}"
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(overview())
        return 0 if argv else EXIT_USAGE
    if argv[0] == "--version":
        print(f"drawnet {version()}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        near = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        print(f"drawnet: error: unknown command {name!r}{hint}; `drawnet --help` lists them", file=sys.stderr)
        return EXIT_USAGE
    try:
        check_own_datasets()
    except ImportError as err:
        print(f"drawnet: {err}", file=sys.stderr)
        return EXIT_FAILURE
    module = importlib.import_module(COMMANDS[name])
    parser = named(module.get_args_parser(), f"drawnet {name}")
    return module.main(parser.parse_args(rest))
