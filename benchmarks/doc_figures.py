"""Every measured figure in the README and docs/ tied to the result it comes from, and checked.

    python benchmarks/doc_figures.py --check                     # what tests/test_doc_figures.py runs
    python benchmarks/doc_figures.py --collect out/embedded      # refresh docs/results/ from a make demo

**The snapshot.** ``docs/results/`` holds the JSON the figures come from, copied from one ``make demo``
(``--collect OUT``: ``OUT``, ``OUT-verified``, ``OUT-thesis``, ``OUT-curated`` and the workspace's latest
``runs/NNN-*`` fine-tune) with the bulky tables left out (per class, confusion matrices, CV rows), plus the
judged fixtures' figures that ``make demo`` prints (``benchmarks/curation_quality.py`` and
``benchmarks/label_precision.py``, computed here from the same output; ``--ablations`` adds
``curation_quality.py --ablations``, which reruns ``evaluation.verify`` per evidence, a few minutes).
``run.json`` says where each file came from, when the run was made and at which commit.

**The markers.** A figure is tied by an HTML comment right after it, which renders as nothing on GitHub and
in MkDocs::

    84.2<!-- fig: thesis/metrics.json methods.svm.val.global.top1 % -->
    84.2 / 94.7<!-- fig: thesis/metrics.json methods.svm.val.global.{top1,top5} % -->
    2,172<!-- fig: curated/summary.json images-unlabelled_images -->

``FILE`` is a path under ``docs/results/``; ``EXPR`` a dotted path into its JSON (list items by index, ``_``
for a space in a key, ``#path`` for a list's or table's length), or several joined by ``+`` and ``-``; a
``{a,b}`` group ties as many numbers, written ``X / Y`` before the marker; a final ``%`` reads a share as a
percentage. The figure as written (``1,588``, ``91.5``, ``93.5%``, ``**89.3**``) must equal the value
rounded to the decimals written. Markers inside code spans and code blocks are examples and tie nothing.
A ``<!-- figures: tied -->`` line before a table asks for every number in its cells after the first column
to be tied, except on rows marked † or ‡ (figures of runs that are not in the snapshot).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "docs" / "results"
NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
MARKER = re.compile(r"<!--\s*fig:(?P<body>.*?)-->")
ANY_MARKER = re.compile(r"<!--\s*figs?\b(?!ures:)")  # a marker misspelt as <!-- figs ... or <!--fig ...
CODE_SPAN = re.compile(r"`[^`]*`")
TIED_TABLE = re.compile(r"^\s*<!--\s*figures:\s*tied\b.*-->\s*$")
UNTIED_ROW = ("†", "‡")
# the bulky parts of the results, left out of the snapshot (no documented figure comes from them)
BULKY = {"per_class", "confusion", "cv_rows", "bins", "looked"}
# snapshot file -> the make demo output it is copied from ({out}: OUT; {run}: the latest fine-tune run)
COPIED = {
    "build.json": "{out}/summary.json",
    "verified.json": "{out}-verified/summary.json",
    "thesis/summary.json": "{out}-thesis/summary.json",
    "thesis/metrics.json": "{out}-thesis/results/metrics.json",
    "curated/summary.json": "{out}-curated/summary.json",
    "curated/metrics.json": "{out}-curated/results/metrics.json",
    "curated/suggest.json": "{out}-curated/suggest/suggest.json",
    "run/metrics.json": "{run}/results/metrics.json",
    "run/source.json": "{run}/source.json",
}


@dataclass
class Figure:
    """One number as a page writes it, and where the marker after it says it comes from."""
    doc: str
    line: int
    written: str
    file: str
    expr: str
    percent: bool


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def expand(expr: str) -> list[str]:
    """``a.{b,c}.d`` -> ``a.b.d``, ``a.c.d`` (one brace group)."""
    found = re.search(r"\{([^{}]*)\}", expr)
    if not found:
        return [expr]
    return [expr[:found.start()] + part.strip() + expr[found.end():] for part in found.group(1).split(",")]


def parse_marker(body: str) -> tuple[str, list[str], bool]:
    """``FILE EXPR [%]`` -> (file, the expressions its brace group expands to, percent)."""
    words = body.split()
    percent = bool(words) and words[-1] == "%"
    words = words[:-1] if percent else words
    if len(words) != 2:
        raise ValueError(f"a fig marker is '<!-- fig: FILE EXPR [%] -->', not '<!-- fig:{body}-->'")
    return words[0], expand(words[1]), percent


def written_before(prefix: str, count: int) -> re.Match | None:
    """The ``count`` numbers written ``X / Y`` at the end of ``prefix`` (bold and % allowed), one group each."""
    one = rf"(?<![\w.,])\**({NUM})[%*]*"
    return re.search(r"\s*/\s*".join([one] * count) + "$", prefix) if count else None


def figures_of(doc: str, text: str) -> tuple[list[Figure], list[str]]:
    """Every tied figure of a page, and the problems with its markers."""
    figures, problems, fenced = [], [], False
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if fenced:
            continue
        line = CODE_SPAN.sub(lambda m: " " * len(m.group()), line)  # an example in code ties nothing
        markers = list(MARKER.finditer(line))
        if len(list(ANY_MARKER.finditer(line))) != len(markers):
            problems.append(f"{doc}:{n}: a marker is misspelt: write '<!-- fig: FILE EXPR [%] -->'")
        for m in markers:
            try:
                file, exprs, percent = parse_marker(m.group("body"))
            except ValueError as err:
                problems.append(f"{doc}:{n}: {err}")
                continue
            written = written_before(line[:m.start()], len(exprs))
            if written is None:
                problems.append(f"{doc}:{n}: no {len(exprs)} number(s) right before <!-- fig:{m.group('body')}-->")
                continue
            figures += [Figure(doc, n, w, file, e, percent) for w, e in zip(written.groups(), exprs)]
    return figures, problems


def lookup(data, path: str):
    """A dotted path into JSON; ``#path`` is the length of what it names."""
    length = path.startswith("#")
    value = data
    for key in filter(None, path.lstrip("#").split(".")):
        if isinstance(value, list):
            if not key.isdigit() or int(key) >= len(value):
                raise KeyError(f"no item {key!r}")
            value = value[int(key)]
        elif isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, dict) and key.replace("_", " ") in value:  # a key with spaces, written with _
            value = value[key.replace("_", " ")]
        else:
            raise KeyError(f"no key {key!r}")
    if length:
        return len(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise KeyError(f"{path} is {value!r}, not a number")
    return value


def evaluate(data, expr: str) -> float:
    """``a+b-c`` of dotted paths."""
    total, sign = 0.0, 1
    for token in re.split(r"([+-])", expr):
        if token in ("+", "-"):
            sign = 1 if token == "+" else -1
        elif token:
            total += sign * lookup(data, token)
    return total


def agrees(written: str, value: float) -> bool:
    """The figure as written is the value rounded to the decimals written (half up or half even)."""
    plain = written.replace(",", "")
    decimals = len(plain.split(".")[1]) if "." in plain else 0
    return abs(float(plain) - value) <= 0.5 * 10 ** -decimals + 1e-9


def rounded(written: str, value: float) -> str:
    plain = written.replace(",", "")
    decimals = len(plain.split(".")[1]) if "." in plain else 0
    return f"{value:,.{decimals}f}" if "," in written else f"{value:.{decimals}f}"


def check_figures(figures: list[Figure], results: Path) -> list[str]:
    """``FILE:LINE: written X, results say Y`` for every figure that is not its result."""
    loaded: dict[str, object] = {}
    problems = []
    for f in figures:
        where = f"{f.doc}:{f.line}"
        path = results / f.file
        if f.file not in loaded:
            try:
                loaded[f.file] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                loaded[f.file] = err
        data = loaded[f.file]
        if isinstance(data, Exception):
            problems.append(f"{where}: {f.written} cites {f.file}, which cannot be read under {results} ({data})")
            continue
        try:
            value = evaluate(data, f.expr) * (100 if f.percent else 1)
        except KeyError as err:
            problems.append(f"{where}: {f.written} cites {f.file} {f.expr}: {err.args[0]}")
            continue
        if not agrees(f.written, value):
            problems.append(f"{where}: written {f.written}, results say {rounded(f.written, value)} "
                            f"({f.file} {f.expr}{' %' if f.percent else ''} = {value:g})")
    return problems


def cells(row: str) -> list[str]:
    """A table row's cells (``\\|`` is a pipe inside a cell)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def tied_rows(doc: str, lines: list[str]) -> tuple[list[tuple[int, str]], list[str]]:
    """The body rows of each table after a ``<!-- figures: tied -->`` line, and markers with no table after them."""
    rows, problems, state, since = [], [], None, 0
    for n, line in enumerate(lines, 1):
        is_row = line.lstrip().startswith("|")
        if TIED_TABLE.match(line):
            state, since = "waiting", n
        elif state == "waiting" and is_row:
            state = "separator"  # this line is the header
        elif state == "waiting" and line.strip():
            problems.append(f"{doc}:{since}: '<!-- figures: tied -->' is not followed by a table")
            state = None
        elif state == "separator" and is_row:
            state = "body"
        elif state == "body" and is_row:
            rows.append((n, line))
        elif state != "waiting":
            state = None
    if state == "waiting":
        problems.append(f"{doc}:{since}: '<!-- figures: tied -->' is not followed by a table")
    return rows, problems


def bare_numbers(text: str) -> list[str]:
    """The numbers of a piece of a page, code spans aside."""
    return re.findall(rf"(?<![\w.,])(?:{NUM})(?!\w)", CODE_SPAN.sub("", text))


def untied_in(cell: str) -> list[str]:
    """The numbers of a table cell that no marker ties."""
    untied, last, cell = [], 0, CODE_SPAN.sub(lambda m: " " * len(m.group()), cell)
    for m in MARKER.finditer(cell):
        prefix = cell[last:m.start()]
        try:
            count = len(parse_marker(m.group("body"))[1])
        except ValueError:
            count = 0  # reported by figures_of
        found = written_before(prefix, count)
        untied += bare_numbers(prefix[:found.start()] if found else prefix)
        last = m.end()
    return untied + bare_numbers(cell[last:])


def untied_numbers(doc: str, text: str) -> list[str]:
    """Numbers in a tied table's cells that have no marker (the first column and rows marked † or ‡ aside)."""
    rows, problems = tied_rows(doc, text.splitlines())
    for n, line in rows:
        if any(mark in line for mark in UNTIED_ROW):
            continue
        for cell in cells(line)[1:]:
            problems += [f"{doc}:{n}: {number} in a tied table has no fig marker (tie it, or mark the row †)"
                         for number in untied_in(cell)]
    return problems


def check(docs: list[Path], results: Path, root: Path = ROOT) -> tuple[list[str], list[Figure]]:
    """Every problem of the given pages' figures against the snapshot, and the figures checked."""
    problems, figures = [], []
    for path in docs:
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        text = path.read_text(encoding="utf-8")
        found, bad = figures_of(name, text)
        figures += found
        problems += bad + untied_numbers(name, text)
    return problems + check_figures(figures, results), figures


def trim(value, root: str = str(ROOT) + os.sep):
    """The results without their bulky tables, and paths inside this clone written relative to it."""
    if isinstance(value, dict):
        return {k: trim(v, root) for k, v in value.items()
                if not (isinstance(v, (dict, list)) and (k in BULKY or k == "classes" and isinstance(v, list)))}
    if isinstance(value, list):
        return [trim(v, root) for v in value]
    return value.removeprefix(root) if isinstance(value, str) else value


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def first_stage_kept(verified: Path) -> set[tuple[str, str]]:
    """(image, wnid) of every label the first stage of ``evaluation.verify`` kept (its ``stage1`` verdict)."""
    from datasets.manifest import iter_jsonl

    kept = set()
    for _, r in iter_jsonl(verified):
        wnid = r.get("wnid") or r.get("rejected_wnid")
        if wnid and ((r.get("label_check") or {}).get("stage1") or {}).get("verdict") in ("accepted", "unsure"):
            kept.add((r["id"], wnid))
    return kept


def judged_figures(out: Path) -> dict:
    """What ``make demo``'s ``benchmarks/curation_quality.py`` prints, per half of the judged fixture, and the
    labels the first stage alone kept."""
    from benchmarks import curation_quality as cq
    from benchmarks import label_precision as lp

    verified, curated = Path(f"{out}-verified/manifest.jsonl"), Path(f"{out}-curated")
    stage1 = first_stage_kept(verified)
    figures = {}
    for half in cq.HALVES:
        rows = cq.judged(half)
        figures[half] = {"labels": cq.label_figures(verified, rows),
                         "first_stage": lp.score([r for r in rows if r["part"] == "L"], stage1),
                         "suggestions": cq.suggestion_figures(curated / "manifest.jsonl", curated / "suggest", rows),
                         "workload": cq.workload(curated / "manifest.jsonl", rows)}
    return figures


def older_sample(verified: Path) -> dict:
    """``benchmarks/label_precision.py`` on the older judged sample: strict matching, the build, verified, and
    the first stage alone."""
    from benchmarks import label_precision as lp
    from datasets.manifest import iter_jsonl

    judged = [row for _, row in iter_jsonl(lp.FIXTURE)]
    rows, _ = lp.report(judged, verified)
    keys = ["strict", "build", "verified"] if len(rows) == 3 else ["strict", "verified"]
    return {**dict(zip(keys, (figures for _, figures in rows))),
            "first_stage": lp.score(judged, first_stage_kept(verified))}


def ablation_figures(out: Path) -> dict:
    """``benchmarks/curation_quality.py --ablations``: verify with each evidence alone, on both samples."""
    from benchmarks import curation_quality as cq
    from benchmarks import label_precision as lp
    from datasets.manifest import iter_jsonl

    older = [row for _, row in iter_jsonl(lp.FIXTURE)]
    figures = {}
    for name, manifest in cq.ablation_runs(out):
        figures[re.sub(r"\W+", "_", name)] = {
            **{half: cq.label_figures(manifest, cq.judged(half)) for half in ("tune", "holdout")},
            "older": lp.score(older, lp.kept_labels(manifest))}
    return figures


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def provenance(sources: dict[str, Path], out: Path, run: Path, commit: str | None) -> dict:
    """Where each file came from, when the run made its first one, and the commit it ran."""
    first = min(path.stat().st_mtime for path in sources.values())
    date = dt.datetime.fromtimestamp(first, dt.timezone.utc).isoformat(timespec="seconds")
    sha = git("rev-parse", "--verify", f"{commit}^{{commit}}") if commit else git("log", "-1", "--format=%H",
                                                                                   f"--before={date}")
    return {"about": "the results the README and docs/ cite (benchmarks/doc_figures.py --collect; "
                     "tests/test_doc_figures.py checks every figure against them)",
            "out": str(out), "run": str(run), "date": date, "commit": sha,
            "commit_from": "--commit" if commit else "the last commit before the run's first output file",
            "collected": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "files": {name: str(path) for name, path in sources.items()}}


def latest_run() -> Path | None:
    runs = sorted(Path("runs").glob("*/results/metrics.json"))
    return runs[-1].parent.parent if runs else None


def collect(out: Path, run: Path, results: Path, commit: str | None, ablations: bool) -> None:
    """Refresh the snapshot from a ``make demo`` output (``out``) and its fine-tune run."""
    sources = {name: Path(pattern.format(out=out, run=run)) for name, pattern in COPIED.items()}
    for name, path in sources.items():
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (for {name}); run make demo, or give --run")
    snapshot = {name: trim(json.loads(path.read_text(encoding="utf-8"))) for name, path in sources.items()}
    snapshot["judged.json"] = judged_figures(out)
    snapshot["older_sample.json"] = older_sample(Path(f"{out}-verified/manifest.jsonl"))
    if ablations:
        snapshot["ablations.json"] = ablation_figures(out)
    snapshot["run.json"] = {**provenance(sources, out, run, commit), "ablations": ablations}
    for name, data in snapshot.items():
        write_json(results / name, data)
    stale = results / "ablations.json"
    if not ablations and stale.exists():  # an earlier run's: the figures citing it are checked against nothing
        stale.unlink()
        print(f"removed {stale}, an earlier run's: --ablations measures it again", file=sys.stderr)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--check", action="store_true", help="check every tied figure; exit 1 on a mismatch")
    what.add_argument("--collect", type=Path, metavar="OUT", help="refresh the snapshot from make demo's OUT")
    p.add_argument("--run", type=Path, default=None,
                   help="with --collect: the fine-tune run (default: the latest runs/*/ of this folder)")
    p.add_argument("--commit", default=None, help="with --collect: the commit the run was made at "
                   "(default: the last commit before its first output file)")
    p.add_argument("--ablations", action="store_true",
                   help="with --collect: also rerun evaluation.verify per evidence (minutes)")
    p.add_argument("--results", type=Path, default=RESULTS, help="the snapshot (default docs/results/)")
    p.add_argument("--docs", type=Path, nargs="+", default=None, help="pages to check (default: README, docs/*.md)")
    return p


def main(args: argparse.Namespace) -> int:
    prog = "doc_figures"
    if args.collect:
        run = args.run or latest_run()
        if run is None:
            print(f"{prog}: no runs/*/results/metrics.json here: give --run RUN_DIR", file=sys.stderr)
            return 1
        try:
            collect(args.collect, run, args.results, args.commit, args.ablations)
        except (OSError, ValueError) as err:
            print(f"{prog}: {err}", file=sys.stderr)
            return 1
        print(f"{prog}: wrote {args.results} from {args.collect} and {run}")
    problems, figures = check(args.docs or doc_files(), args.results)
    for line in problems:
        print(line)
    pages = sorted({f.doc for f in figures})
    print(f"{prog}: {len(figures)} figures tied in {len(pages)} pages, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems and args.check else 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
