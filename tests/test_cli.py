"""``drawnet COMMAND``, every command's ``--help``, one name for each option, and the generated reference page."""
import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from drawnet import cli, reference
from scraping.cli import version

ROOT = Path(__file__).resolve().parent.parent
# spellings retired for one name each (docs/reference.md): none may come back, not even as an alias
RETIRED = {"--data", "--kernels", "--exact-max-rows", "--no-amp", "--sources", "--near-distance"}
# options that take one value in one command and several in another, on purpose
SEVERAL_ON_PURPOSE = {
    "--backbone": "evaluation.verify averages the logits of several backbones; the others use one",
    "--features": "the classifiers (svm, suggest) join several backbones' features, verify averages them; baseline, "
                  "head, embed and hygiene read one file",
    "--results": "evaluation.report tabulates several results folders; curation.writeback writes back one",
}


def parsers():
    for name, module in cli.COMMANDS.items():
        parser = importlib.import_module(module).get_args_parser()
        yield name, module, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    yield f"{name} {sub_name}", module, sub


def options(parser):
    return {opt: action for action in parser._actions for opt in action.option_strings}


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: drawnet {name}") and "--quiet" in out and "--version" in out


def test_every_command_shares_the_output_options():
    for name, module, parser in parsers():
        if " " in name:
            continue  # a sub-command inherits its parent's
        assert {"-q", "--quiet", "-v", "--verbose", "--version"} <= set(options(parser)), module


def test_one_name_for_each_option():
    seen: dict[str, tuple[str, str, object]] = {}
    for name, module, parser in parsers():
        found = options(parser)
        assert not RETIRED & set(found), f"{module}: {sorted(RETIRED & set(found))}"
        for opt, action in found.items():
            if opt in ("-h", "--help", "--version") or opt in SEVERAL_ON_PURPOSE:
                continue
            shape = (type(action).__name__, action.nargs)
            if opt in seen:
                other, other_shape = seen[opt][0], seen[opt][1]
                assert shape == other_shape, f"{opt}: {shape} in {module}, {other_shape} in {other}"
            else:
                seen[opt] = (module, shape, action)


def test_drawnet_dispatches_and_names_itself(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"drawnet {version()}"
    assert cli.main(["fintune"]) == 2
    assert "did you mean 'finetune'" in capsys.readouterr().err
    assert cli.main([]) == 2 and "drawnet finetune --epochs 239" in capsys.readouterr().out
    assert cli.main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(f"\n  {name} " in listed for name in cli.COMMANDS)
    with pytest.raises(SystemExit) as done:
        cli.main(["svm", "--no-such-option"])
    assert done.value.code == 2 and "usage: drawnet svm" in capsys.readouterr().err


def test_the_console_script_is_installed():
    """``make demo`` installs ``drawnet`` into the virtualenv (pyproject's [project.scripts])."""
    script = Path(sys.executable).parent / "drawnet"
    assert script.exists(), f"{script}: reinstall the package (pip install -e .)"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "FIFTYONE_DO_NOT_TRACK": "true"})
    assert done.returncode == 0 and done.stdout.strip() == f"drawnet {version()}"


def test_the_reference_page_is_what_the_parsers_say():
    args = reference.get_args_parser().parse_args(["--check"])
    assert reference.main(args) == 0, "docs/reference.md is stale: run python -m drawnet.reference"


def test_the_reference_page_is_the_same_on_every_machine(tmp_path):
    """No default that depends on the machine (cores, home folder, terminal width) leaks into the page: render it
    in a process that sees 97 cores, another home and a narrow terminal."""
    code = ("import os, sys; os.cpu_count = lambda: 97; os.sched_getaffinity = lambda pid: set(range(97)); "
            "from drawnet import reference; sys.stdout.write(reference.render())")
    env = {**os.environ, "HOME": str(tmp_path), "COLUMNS": "41", "FIFTYONE_DO_NOT_TRACK": "true"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == reference.render()


def test_the_reference_check_fails_on_a_stale_page(tmp_path, capsys):
    page = tmp_path / "reference.md"
    page.write_text(reference.render().replace("--table-rows", "--table-lines", 1))
    assert reference.main(reference.get_args_parser().parse_args(["--check", "--out", str(page)])) == 1
    assert "--table-lines" in capsys.readouterr().out
