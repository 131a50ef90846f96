"""python -m curation.app: the FiftyOne App on the workspace's dataset, opened on its latest evaluation.

    python -m curation.app                                      # the workspace's dataset (curation.load set it)
    python -m curation.app --port 5252 --address 0.0.0.0 --view "to review"
    python -m curation.app --dataset team-set --database-uri mongodb://db:27017

It binds to 127.0.0.1 unless ``--address`` says otherwise, prints the URL and serves
until interrupted. With no ``--dataset`` it opens the workspace's current one
(``datasets.workspace``). The grid opens on the val failures of the latest written-back
method, worst first; beside it, FiftyOne's Model Evaluation panel has that method's
evaluation selected (click a class, or a cell of the confusion matrix, for its samples),
with the Embeddings panel on the latest t-SNE of ``curation.embed`` in the next tab.
Opened on the saved view "label check", the grid has the Label check panel beside it: the
undecided mappings, the least supported first, each shown, accepted or rejected as a whole
(``curation.mappings``). Tiles show the ground truth and the latest method only, and the
sidebar groups the other fields, collapsed (``curation.sidebar``). The space is also saved as the dataset's
"curation" workspace. The curation operators (``curation/plugin``) sit in the grid's
action bar and in the operator palette (the backtick key).
"""
from __future__ import annotations

import argparse
import sys

from scraping.cli import UsageError, add_common_arguments, setup_logging

from .database import add_dataset_arguments, app_url, dataset_and_uri, exit_code, fiftyone_module
from .views import LABEL_CHECK
from .writeback_fields import eval_keys, failure_view_name

PROG = "curation.app"
WORKSPACE = "curation"
# FiftyOne's own Model Evaluation panel, as curation/plugin adapts it: it opens on the selected evaluation, and a
# click on a class shows that class's failures
EVALUATION_PANEL = "drawnet_model_evaluation"
LABEL_CHECK_PANEL = "drawnet_label_check"  # curation/plugin: the undecided mappings of the view "label check"


def embeddings_key(dataset, preferred: str | None = None) -> str | None:
    """The brain run the Embeddings panel opens: ``preferred``, else the latest t-SNE, else the latest visualization."""
    keys = dataset.list_brain_runs(type="visualization") if hasattr(dataset, "list_brain_runs") else []
    if preferred:
        if preferred not in keys:
            raise ValueError(f"dataset {dataset.name!r} has no visualization run {preferred!r} (has: "
                             f"{', '.join(keys) or 'none; run curation.embed'})")
        return preferred
    if not keys:
        return None
    by_time = sorted(keys, key=lambda k: dataset.get_brain_info(k).timestamp)
    tsne = [k for k in by_time if k.endswith("tsne")]
    return (tsne or by_time)[-1]


def evaluation_state(dataset, eval_key: str | None) -> dict:
    """The Model Evaluation panel's state with ``eval_key`` selected (the plugin's panel adds the run's id)."""
    if not eval_key or not dataset.has_evaluation(eval_key):
        return {}
    return {"view": {"page": "evaluation", "key": eval_key}}


def curation_space(fo, brain_key: str | None, eval_state: dict | None = None, label_check: bool = False):
    """The grid, and beside it the Label check panel (``label_check``), the Model Evaluation panel (once there is
    an evaluation) and the Embeddings panel.

    One space of panels side by side: FiftyOne 1.22 leaves a grid blank inside a nested space.
    """
    panels = [fo.Panel(type="Samples", pinned=True)]
    if label_check:
        panels.append(fo.Panel(type=LABEL_CHECK_PANEL))
    if eval_state:
        panels.append(fo.Panel(type=EVALUATION_PANEL, state=eval_state))
    if brain_key is not None:
        panels.append(fo.Panel(type="Embeddings", state={"brainResult": brain_key,
                                                         "colorByField": "ground_truth.label"}))
    return fo.Space(children=panels, orientation="horizontal") if len(panels) > 1 else fo.Space(children=panels)


def opening_view(dataset, view: str | None, latest: str | None) -> str | None:
    """The saved view the grid opens on: ``view``, else the latest method's failures (when it has some)."""
    if view:
        if not dataset.has_saved_view(view):
            raise ValueError(f"dataset {dataset.name!r} has no saved view {view!r} (has: "
                             f"{', '.join(dataset.list_saved_views()) or 'none'})")
        return view
    failures = failure_view_name(latest) if latest else None
    if failures and dataset.has_saved_view(failures) and len(dataset.load_saved_view(failures)):
        return failures
    return None  # no val failure: the whole dataset


def prepare(dataset, *, view: str | None = None, brain_key: str | None = None):
    """Configure the dataset's App (sidebar, tiles, saved space); return (space, saved view name, latest method)."""
    from .sidebar import configure_app, latest_method

    fo = fiftyone_module()
    latest = latest_method(dataset)
    opened, brain = opening_view(dataset, view, latest), embeddings_key(dataset, brain_key)  # checked before writing
    configure_app(fo, dataset, latest)
    space = curation_space(fo, brain, evaluation_state(dataset, eval_keys(latest)[0] if latest else None),
                           opened == LABEL_CHECK)
    dataset.save_workspace(WORKSPACE, space, description="failures, model evaluation and embeddings", overwrite=True)
    return space, opened, latest


def launch(dataset_name: str, *, port: int = 5151, address: str = "127.0.0.1", view: str | None = None,
           brain_key: str | None = None, database_uri: str | None = None):
    """Serve the App on the dataset (and saved view); return (session, URL, what it opened on)."""
    fo = fiftyone_module(database_uri)
    if not fo.dataset_exists(dataset_name):
        raise ValueError(f"no FiftyOne dataset {dataset_name!r} (load one with python -m curation.load)")
    dataset = fo.load_dataset(dataset_name)
    space, view, latest = prepare(dataset, view=view, brain_key=brain_key)
    session = fo.launch_app(dataset, view=dataset.load_saved_view(view) if view else None, spaces=space, port=port,
                            address=address, remote=True, auto=False)
    return session, app_url(address, port, dataset_name), {"view": view, "latest": latest}


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Serve the FiftyOne App on a curation dataset.", add_help=add_help)
    add_dataset_arguments(p)
    p.add_argument("--port", type=int, default=5151, help="port to serve on (default 5151)")
    p.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--view", default=None, help='a saved view to open, e.g. "to review" (default: the latest '
                   "method's failures)")
    p.add_argument("--brain-key", default=None, help="the visualization run for the Embeddings panel")
    add_common_arguments(p)
    return p


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        if not 1 <= args.port <= 65535:
            raise UsageError(f"--port must be in 1..65535, got {args.port}")
        dataset, uri = dataset_and_uri(args.dataset, args.workspace, args.database_uri)
        session, url, opened = launch(dataset, port=args.port, address=args.address, view=args.view,
                                      brain_key=args.brain_key, database_uri=uri)
    except (ValueError, OSError) as err:  # WorkspaceError and UsageError are ValueErrors
        return exit_code(PROG, err)
    where = f", view {opened['view']!r}" if opened["view"] else ""
    latest = f"; latest evaluation: {opened['latest']}" if opened["latest"] else ""
    print(f"The App is serving {dataset!r} at {url}{where}{latest}  (Ctrl-C stops it)", flush=True)
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
