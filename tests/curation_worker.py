"""A curator in a process of its own, for the concurrency and kill tests and benchmarks/curation_bench.py.

    python -m tests.curation_worker --dataset D --uri mongodb://... --ids ids.json --records 250 --seed 1 \
        --out done.json [--size 1,4] [--forever] [--go FILE] [--barrier DIR --parties 4 --rounds 10 --own ID]

Acts at random (accept, reject, move, ambiguous, undo) on random samples of ``--ids`` until
it has ``--records`` records in the log (refused undos and undos with nothing to undo do not
count), then writes what it did to ``--out``. ``--forever`` never stops (the kill test kills
it). It prints "ready" before its first action; with ``--go`` it then waits for that file.

With ``--barrier DIR``, the ``--parties`` curators sharing DIR act in ``--rounds`` rounds of
``records / rounds`` records, and none starts a round before all of them have finished the one before
(:func:`wait_for_all`): every record of a round is numbered after every record of the rounds before,
whatever the machine's load, so the curators' records interleave by construction. A round starts with an
action on ``--own`` (a sample no other curator touches) and its undo, which no one can refuse.
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
    p.add_argument("--barrier", type=Path, default=None, help="a folder the curators of one run share")
    p.add_argument("--parties", type=int, default=1, help="curators that meet at the barrier")
    p.add_argument("--rounds", type=int, default=1, help="rounds, each started together at the barrier")
    p.add_argument("--own", default=None, help="an image id only this curator acts on (each round's first action)")
    p.add_argument("--barrier-timeout", type=float, default=600.0, help="seconds to wait for the others at most")
    return p


def wait_for_all(folder: Path, round_: int, me: int, parties: int, timeout: float) -> None:
    """A barrier of files: say this curator reached ``round_``, then wait until all ``parties`` have."""
    (folder / f"{round_:04d}.{me}").touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.glob(f"{round_:04d}.*"))) < parties:
        if time.monotonic() > deadline:
            raise SystemExit(f"barrier: only {len(list(folder.glob(f'{round_:04d}.*')))} of {parties} curators "
                             f"reached round {round_} in {timeout:.0f} s")
        time.sleep(0.01)


class Curator:
    """One curator's random actions on a dataset, and what came of them."""

    def __init__(self, dataset, args):
        from curation.log import CurationLog
        from datasets.vocabulary import load_vocabulary

        self.dataset, self.log, self.vocab = dataset, CurationLog(dataset), load_vocabulary()
        self.ids = json.loads(args.ids.read_text())
        self.low, self.high = (int(x) for x in args.size.split(","))
        self.rng, self.undo_share = random.Random(args.seed), args.undo_share
        self.done: list[dict] = []
        self.refused = self.nothing = 0

    def act(self, round_: int, action: str | None = None, sample: list[str] | None = None) -> None:
        """One action (at random unless given); its record joins ``done``, a refused or empty undo is counted."""
        from curation import actions

        action = action or ("undo" if self.rng.random() < self.undo_share else self.rng.choice(ACTIONS[:-1]))
        if action == "undo":
            try:
                record = actions.undo(self.dataset, log=self.log)
            # older code (curation_bench --before) has no UndoRefused and never refuses: catch nothing there
            except getattr(actions, "UndoRefused", ()):
                self.refused += 1
                return
            if record is None:
                self.nothing += 1
                return
        else:
            sample = sample or self.rng.sample(self.ids, self.rng.randint(self.low, min(self.high, len(self.ids))))
            record = actions.curate(self.dataset, action, sample, log=self.log, vocab=self.vocab,
                                    to=self.rng.choice(MOVES) if action == "move" else None)
        self.done.append({"seq": record["seq"], "id": record["id"], "action": record["action"], "round": round_})


def main(args) -> int:
    from curation.database import fiftyone_module

    fo = fiftyone_module(args.uri)
    curator = Curator(fo.load_dataset(args.dataset), args)
    print("ready", flush=True)
    while args.go and not args.go.exists():
        time.sleep(0.01)
    start = time.perf_counter()
    per_round = -(-args.records // max(1, args.rounds))
    for round_ in range(args.rounds if args.barrier else 1):
        if args.barrier:
            wait_for_all(args.barrier, round_, args.seed, args.parties, args.barrier_timeout)
        if args.own:  # an undo no one can refuse: only this curator touches the sample, and it acted last
            curator.act(round_, "accept", [args.own])
            curator.act(round_, "undo")
        while args.forever or len(curator.done) < min(args.records, (round_ + 1) * per_round):
            curator.act(round_)
    if args.out:
        args.out.write_text(json.dumps({"records": curator.done, "undo_refused": curator.refused,
                                        "undo_nothing": curator.nothing, "seconds": time.perf_counter() - start,
                                        "curator": getattr(curator.log, "curator", {}).get("curator")}))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
