"""FiftyOne finds the curation plugin next to a user's own plugins, whichever way the user set their folder."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"@drawnet/curation/accept", "@drawnet/curation/undo", "@drawnet/curation/drawnet_label_check"}
THEIRS = "@someone/tiny/hello"
LIST = """
import json, os, subprocess, sys
from curation.database import fiftyone_module
fo = fiftyone_module()
import fiftyone.operators as foo
child = subprocess.run([sys.executable, "-c", "import fiftyone as fo, fiftyone.operators as foo, json; "
                        "print(json.dumps(sorted(o.uri for o in foo.list_operators(builtin=False))))"],
                       capture_output=True, text=True, check=True)  # a process it starts, as the App server is
print(json.dumps({"operators": sorted(o.uri for o in foo.list_operators(builtin=False)),
                  "child": json.loads(child.stdout), "folder": fo.config.plugins_dir}))
"""


def tiny_plugin(folder: Path) -> Path:
    """A user's plugins folder holding one plugin with one operator, ``@someone/tiny/hello``."""
    plugin = folder / "tiny"
    plugin.mkdir(parents=True)
    (plugin / "fiftyone.yml").write_text('name: "@someone/tiny"\noperators:\n  - hello\n')
    (plugin / "__init__.py").write_text(
        "import fiftyone.operators as foo\n\n\n"
        "class Hello(foo.Operator):\n"
        "    @property\n"
        "    def config(self):\n"
        "        return foo.OperatorConfig(name='hello', label='Hello')\n\n"
        "    def execute(self, ctx):\n"
        "        return {}\n\n\n"
        "def register(p):\n"
        "    p.register(Hello)\n")
    return folder


def listed(home: Path, **env) -> dict:
    """The operators a fresh process lists after ``curation.database.fiftyone_module()``, and its child's."""
    clean = {k: v for k, v in os.environ.items() if k != "FIFTYONE_PLUGINS_DIR"}
    done = subprocess.run([sys.executable, "-c", LIST], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**clean, "HOME": str(home), "FIFTYONE_DO_NOT_TRACK": "true", **env})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_our_operators_are_listed_beside_the_users_own(tmp_path):
    user = tiny_plugin(tmp_path / "my-plugins")
    got = listed(tmp_path / "home", FIFTYONE_PLUGINS_DIR=str(user))
    assert OURS <= set(got["operators"]) and THEIRS in got["operators"], got
    assert got["child"] == got["operators"]  # the App server, started from it, lists the same
    folder = Path(got["folder"])
    assert folder.parent == tmp_path / "home" / ".cache" / "drawnet" / "fiftyone-plugins"
    assert sorted(p.name for p in folder.iterdir()) == ["drawnet", "user"]
    assert (folder / "user").resolve() == user.resolve() and list(user.iterdir()) == [user / "tiny"]  # theirs untouched

    # the same folder in ~/.fiftyone/config.json instead of the environment
    config = tmp_path / "home2" / ".fiftyone" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"plugins_dir": str(user)}))
    again = listed(tmp_path / "home2")
    assert OURS <= set(again["operators"]) and THEIRS in again["operators"], again


@pytest.mark.slow
def test_without_a_plugins_folder_of_the_users_fiftyone_reads_ours_alone(tmp_path):
    got = listed(tmp_path / "home")  # FiftyOne's default folder, ~/fiftyone/__plugins__, does not exist
    assert OURS <= set(got["operators"]) and not any(op.startswith("@someone") for op in got["operators"])
    assert got["folder"] == str(ROOT / "curation") and got["child"] == got["operators"]
    assert not (tmp_path / "home" / ".cache").exists()  # nothing made where nothing is to be joined
