"""A curator in a process of its own, for the concurrency and kill tests and benchmarks/curation_bench.py.

    python -m tests.curation_worker --dataset D --uri mongodb://... --ids ids.json --records 250 --seed 1 \
        --out done.json [--size 1,4] [--forever]

Acts at random (accept, reject, move, ambiguous, undo) on random samples of ``--ids`` until
it has ``--records`` records in the log (refused undos and undos with nothing to undo do not
count), then writes what it did to ``--out``. ``--forever`` never stops (the kill test kills
it). It prints "ready" before its first action.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

MOVES = ("n04398044", "n04507155", "n03481172")  # teapot, umbrella, hammer
ACTIONS = ("accept", "reject", "move", "ambiguous", "undo")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--uri", required=True)
    p.add_argument("--ids", type=Path, required=True, help="a JSON list of the image ids to act on")
    p.add_argument("--records", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", default="1,4", help="samples per action: min,max")
    p.add_argument("--undo-share", type=float, default=0.2, help="the share of undos among the actions")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--forever", action="store_true")
    p.add_argument("--go", type=Path, default=None, help="after printing ready, wait for this file to start")
    return p


def main(args) -> int:
    from curation.database import fiftyone_module

    fo = fiftyone_module(args.uri)
    from curation import actions
    from curation.log import CurationLog
    from datasets.vocabulary import load_vocabulary

    dataset = fo.load_dataset(args.dataset)
    log = CurationLog(dataset)
    vocab = load_vocabulary()
    ids = json.loads(args.ids.read_text())
    low, high = (int(x) for x in args.size.split(","))
    rng = random.Random(args.seed)
    done, refused, nothing = [], 0, 0
    print("ready", flush=True)
    while args.go and not args.go.exists():
        time.sleep(0.01)
    start = time.perf_counter()
    while args.forever or len(done) < args.records:
        action = "undo" if rng.random() < args.undo_share else rng.choice(ACTIONS[:-1])
        if action == "undo":
            try:
                record = actions.undo(dataset, log=log)
            # older code (curation_bench --before) has no UndoRefused and never refuses: catch nothing there
            except getattr(actions, "UndoRefused", ()):
                refused += 1
                continue
            if record is None:
                nothing += 1
                continue
        else:
            sample = rng.sample(ids, rng.randint(low, min(high, len(ids))))
            record = actions.curate(dataset, action, sample, to=rng.choice(MOVES) if action == "move" else None,
                                    log=log, vocab=vocab)
        done.append({"seq": record["seq"], "id": record["id"], "action": record["action"]})
    seconds = time.perf_counter() - start
    if args.out:
        args.out.write_text(json.dumps({"records": done, "undo_refused": refused, "undo_nothing": nothing,
                                        "seconds": seconds,
                                        "curator": getattr(log, "curator", {}).get("curator")}))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
