"""Strict matching vs. a direct nested-loop Algorithm 1 (Zaragoza 2016), timed in one run.

    python benchmarks/match_bench.py [--names 1000000] [--baseline-names 20000]

The nested loop costs about half a millisecond a name, so by default it is timed on
the first --baseline-names names and scaled to the full count (printed as such);
--baseline-names 0 times it on every name. As in ``timeit``, the garbage collector is
off while either side runs.
"""
from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets.lexicon import stop_words  # noqa: E402
from datasets.match import Matcher, name_stem, split_words  # noqa: E402
from datasets.vocabulary import Vocabulary, load_vocabulary  # noqa: E402
from scraping.sources.folder import SCRAPED_NOISE  # noqa: E402

FILLER = (
    "old new red blue green big small cute happy simple line art black white color vintage retro icon "
    "clipart vector drawing sketch cartoon symbol logo sign flat style outline shadow glossy funny "
    "the of and with on a in for my your"
).split()
AUTHORS = "nicu buculei architetto francesco rollandin jean victor balin gerald benji park".split()
EXTENSIONS = [".svg", ".png", ".PNG", ".jpg", ".gif"]


def synthetic_names(n: int, vocab: Vocabulary, seed: int = 0) -> list[str]:
    """File names in the styles clip-art sites use, about half naming an ILSVRC lemma."""
    rng = random.Random(seed)
    lemmas = [lemma for c in vocab for lemma in c.lemmas]
    names = []
    for _ in range(n):
        words = [rng.choice(FILLER) for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.5:
            words.insert(rng.randint(0, len(words)), rng.choice(lemmas))
        else:
            words.append(rng.choice(AUTHORS))
        style = rng.random()
        if style < 0.25:
            stem = "".join(w.title().replace(" ", "") for w in words)
        else:
            stem = rng.choice("_- +").join(w.replace(" ", rng.choice("_- ")) for w in words)
        if rng.random() < 0.5:
            stem += f"_{rng.randint(0, 99):02d}"
        names.append(stem + rng.choice(EXTENSIONS))
    return names


def algorithm1(names: list[str], vocab: Vocabulary, stop: frozenset[str], noise: frozenset[str]) -> list[list[int]]:
    """The thesis's matcher as written: every file word against every word of every class."""
    class_words = [(c.index, [w for lemma in c.lemmas for w in split_words(lemma) if w not in stop]) for c in vocab]
    out = []
    for name in names:
        words = [w for w in split_words(name_stem(name)) if w not in stop and w not in noise]
        labels = []
        for index, cwords in class_words:
            found = False
            for cw in cwords:
                for w in words:
                    if cw == w:
                        found = True
                        break
                if found:
                    break
            if found:
                labels.append(index)
        out.append(labels)
    return out


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=add_help)
    p.add_argument("--names", type=int, default=1_000_000, help="synthetic file names to match")
    p.add_argument("--baseline-names", type=int, default=20_000, help="names for the nested loop (0: all)")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(args: argparse.Namespace) -> None:
    vocab = load_vocabulary()
    names = synthetic_names(args.names, vocab, args.seed)
    strict = Matcher(vocab, "strict")
    thesis = Matcher(vocab, "thesis")
    noise = SCRAPED_NOISE
    gc.disable()

    t0 = time.perf_counter()
    results = [strict.match(name_stem(n), noise) for n in names]
    t_strict = time.perf_counter() - t0
    matched = sum(1 for r in results if r.matches)
    distinct = len(strict._memo)

    k = args.baseline_names or len(names)
    k = min(k, len(names))
    t0 = time.perf_counter()
    baseline = algorithm1(names[:k], vocab, stop_words(), noise)
    t_loop = time.perf_counter() - t0
    t_loop_all = t_loop * len(names) / k

    t0 = time.perf_counter()
    indexed = [[m.class_index for m in thesis.match(name_stem(n), noise).matches] for n in names[:k]]
    t_thesis = (time.perf_counter() - t0) * len(names) / k
    gc.enable()
    assert indexed == baseline, "indexed thesis mode disagrees with the nested loop"

    scaled = "" if k == len(names) else f"  (timed on {k:,} names, scaled x{len(names) / k:g})"
    print(f"names: {len(names):,} synthetic; strict matched {matched:,} ({matched / len(names):.0%})")
    print(f"strict matcher (ours)       {t_strict:9.2f} s  {len(names) / t_strict:12,.0f} names/s"
          f"  ({distinct:,} distinct word sequences matched, the rest remembered)")
    print(f"thesis mode, indexed (ours) {t_thesis:9.2f} s  {len(names) / t_thesis:12,.0f} names/s{scaled}")
    print(f"Algorithm 1, nested loops   {t_loop_all:9.2f} s  {len(names) / t_loop_all:12,.0f} names/s{scaled}")
    print(f"ratio: strict is {t_loop_all / t_strict:.0f}x faster than the nested loop "
          f"(indexed thesis mode gives the same labels as the loop on all {k:,} names checked)")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
