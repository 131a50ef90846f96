"""python -m curation.app: the FiftyOne App on a dataset, with the sample grid and its embeddings side by side.

    python -m curation.app --dataset drawnet                    # http://127.0.0.1:5151/datasets/drawnet
    python -m curation.app --dataset drawnet --port 5252 --address 0.0.0.0 --view "to review"

It binds to 127.0.0.1 unless ``--address`` says otherwise, prints the URL and serves
until interrupted. The space (also saved as the dataset's "curation" workspace) has the
grid and the Embeddings panel on the latest t-SNE run of ``curation.embed``, coloured
by class. The curation operators (``curation/plugin``) sit in the grid's action bar and
in the operator palette (the backtick key).
"""
from __future__ import annotations

import argparse
import sys

from .database import fiftyone_module

WORKSPACE = "curation"


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


def curation_space(fo, brain_key: str | None):
    """The grid, and next to it the Embeddings panel when the dataset has a visualization run."""
    grid = fo.Panel(type="Samples", pinned=True)
    if brain_key is None:
        return fo.Space(children=[grid])
    panel = fo.Panel(type="Embeddings", state={"brainResult": brain_key, "colorByField": "ground_truth.label"})
    return fo.Space(children=[grid, panel], orientation="horizontal")


def app_url(address: str, port: int, dataset: str) -> str:
    from urllib.parse import quote

    host = "127.0.0.1" if address in ("0.0.0.0", "") else address
    return f"http://{host}:{port}/datasets/{quote(dataset)}"


def launch(dataset_name: str, *, port: int = 5151, address: str = "127.0.0.1", view: str | None = None,
           brain_key: str | None = None, database_uri: str | None = None):
    """Serve the App on the dataset (and saved view); return (session, URL)."""
    fo = fiftyone_module(database_uri)
    dataset = fo.load_dataset(dataset_name)
    if view and not dataset.has_saved_view(view):
        raise ValueError(f"dataset {dataset_name!r} has no saved view {view!r} (has: "
                         f"{', '.join(dataset.list_saved_views()) or 'none'})")
    space = curation_space(fo, embeddings_key(dataset, brain_key))
    dataset.save_workspace(WORKSPACE, space, description="sample grid and embeddings", overwrite=True)
    session = fo.launch_app(dataset, view=dataset.load_saved_view(view) if view else None, spaces=space, port=port,
                            address=address, remote=True, auto=False)
    return session, app_url(address, port, dataset_name)


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Serve the FiftyOne App on a curation dataset.", add_help=add_help)
    p.add_argument("--dataset", required=True, help="FiftyOne dataset name")
    p.add_argument("--port", type=int, default=5151, help="port to serve on (default 5151)")
    p.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--view", default=None, help='a saved view to open, e.g. "to review"')
    p.add_argument("--brain-key", default=None, help="the visualization run for the Embeddings panel")
    p.add_argument("--database-uri", default=None, help="a shared MongoDB (default: FiftyOne's own)")
    return p


def main(args: argparse.Namespace) -> int:
    try:
        session, url = launch(args.dataset, port=args.port, address=args.address, view=args.view,
                              brain_key=args.brain_key, database_uri=args.database_uri)
    except (ValueError, OSError) as err:
        print(f"curation.app: {err}", file=sys.stderr)
        return 2
    print(f"The App is serving {args.dataset!r} at {url}  (Ctrl-C stops it)", flush=True)
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
