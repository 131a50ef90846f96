"""python -m evaluation.report: tables and figures from results folders and cross-style hold-outs.

    python -m evaluation.report --results out/eval/drawn
    python -m evaluation.report --results out/eval/drawn out/eval/emoji --split train --out out/report
    python -m evaluation.report --results lite0/thesis lite2/thesis run3/results --holdout lite0/thesis run3/results

With ``--results`` it prints top-1 / top-5 per method (rows) and results folder (columns), as
in the thesis's Table 5.2; then the backbone table: rows backbone x method, columns the subsets
(metrics.json ``meta.subset``), cells "top-1 / top-5 (n)". Its rows per backbone (meta
``backbone``, "+flip" added for ``tta`` flip) are softmax (``baseline``), SVM, logistic, the
fine-tuned head (``head``), and SVM and logistic on fine-tuned features (a folder whose meta
``fine_tuned`` is true, or that has a ``head`` method; its ``baseline`` is left out). Features of a
network adapted on another dataset (meta ``adapted``: ``training.adapt``) are frozen features of
"<backbone> adapted", its head the softmax row. Rows with
no figure are omitted; where several folders fill one cell (seeds of one recipe) it shows "mean ±
half the range" over them, with the number of runs. Then, for the
first folder, top-1 per drawing style and the ten worst classes per method.

With ``--holdout`` (folders holding evaluation.svm --holdout-style's holdout.json) it prints
one row per held-out style and one column per backbone, kind and method ("<backbone> frozen
SVM", "<backbone> fine-tuned SVM", ...: a fine-tune holds out one style per run, and its runs
share the column), cells "top-1 (n)", and a last row with the mean top-1 over the styles every
column has.

Writes OUT/report.md with the same tables, OUT/per_class_top1_<method>.png,
OUT/confusion_<method>.png (where the split has a confusion block) and
OUT/per_style_top1.png; OUT defaults to <first results>/report/, or <first holdout>/report/
when only --holdout is given. Only OUT is written.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datasets.manifest import atomic_write_text
from datasets.vocabulary import load_vocabulary
from scraping.cli import UsageError, add_common_arguments, fail, setup_logging, usage
from training.figures import pyplot, save_figure

from .options import new_folder
from .results import METRICS, read_metrics

PROG = "evaluation.report"
METHOD_ORDER = ("baseline", "svm", "logistic")  # the thesis's order; any others follow alphabetically
MISSING = "—"
WORST = 10  # classes listed per method
MAX_LABEL = 32  # characters of a class or style name on a figure axis
HOLDOUT = "holdout.json"  # written by evaluation.svm --holdout-style
HOLDOUT_METHODS = {"svm": "SVM", "logistic": "logistic"}
# the backbone table's rows per backbone: (method, on fine-tuned features?, row name); "head" is always fine-tuned
BACKBONE_ROWS = (("baseline", False, "softmax"), ("svm", False, "SVM"), ("logistic", False, "logistic"),
                 ("head", True, "fine-tuned head"), ("svm", True, "SVM, fine-tuned features"),
                 ("logistic", True, "logistic, fine-tuned features"))


class ReportError(ValueError):
    """Bad input; the message names the file."""


@dataclass
class Column:
    """One results folder: a column of the summary table."""

    path: Path
    title: str
    data: dict  # metrics.json

    @property
    def methods(self) -> dict:
        return self.data["methods"]

    def block(self, method: str, split: str) -> dict | None:
        """The metrics of ``method`` on ``split``, or None where it was not evaluated."""
        block = self.methods.get(method, {}).get(split)
        return block if isinstance(block, dict) else None


@dataclass
class Holdout:
    """One holdout.json: columns of the hold-out table."""

    path: Path  # the folder
    data: dict  # {"meta": {...}, "styles": {style: {method: {"top1", "top5", "n"}, ...}}}

    @property
    def meta(self) -> dict:
        return self.data["meta"]

    @property
    def styles(self) -> dict:
        return self.data["styles"]


# --- input -----------------------------------------------------------------------------------------


def input_file(folder: str | Path, name: str, kind: str, hint: str) -> Path:
    """FOLDER/NAME; ReportError naming what is missing: the folder, or the file (with ``hint``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such {kind} folder")
    path = folder / name
    if not path.is_file():
        raise ReportError(f"{path}: not found ({hint})")
    return path


def load_column(folder: str | Path) -> Column:
    folder = Path(folder)
    path = input_file(folder, METRICS, "results", f"{folder} is not a results folder")
    data = read_metrics(folder)  # ValueError naming the file on bad JSON
    if not isinstance(data.get("methods"), dict) or not data["methods"]:
        raise ReportError(f"{path}: no methods")
    for method, splits in data["methods"].items():
        if not isinstance(splits, dict):
            raise ReportError(f"{path}: method {method!r} is not an object")
        for split, block in splits.items():
            if not split.startswith("_") and not (isinstance(block, dict) and isinstance(block.get("global"), dict)):
                raise ReportError(f"{path}: {method}/{split} has no 'global' metrics")
    if not isinstance(data.get("meta"), dict):
        data["meta"] = {}
    return Column(folder, "", data)


def load_columns(folders: list[str | Path]) -> list[Column]:
    """Read every folder and give each column a unique title: its subset, else its folder name."""
    columns = [load_column(f) for f in folders]
    titles = [str(c.data["meta"].get("subset") or c.path.resolve().name) for c in columns]
    for i, c in enumerate(columns):
        title = titles[i]
        if titles.count(title) > 1:  # same subset evaluated twice, e.g. two backbones
            title = f"{title} ({c.path.name})"
        c.title = title
    seen: dict[str, int] = {}
    for c in columns:  # still equal (same subset, same folder name): number them
        seen[c.title] = seen.get(c.title, 0) + 1
        if seen[c.title] > 1:
            c.title = f"{c.title} #{seen[c.title]}"
    return columns


def load_holdout(folder: str | Path) -> Holdout:
    """Read FOLDER/holdout.json; ReportError naming the file when it is missing or malformed."""
    folder = Path(folder)
    path = input_file(folder, HOLDOUT, "hold-out", f"write it with evaluation.svm --holdout-style ... --out {folder}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ReportError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("styles"), dict) or not data["styles"]:
        raise ReportError(f"{path}: no held-out styles (no 'styles' object)")
    for style, result in data["styles"].items():
        blocks = [result.get(m) for m in HOLDOUT_METHODS] if isinstance(result, dict) else []
        if not any(isinstance(b, dict) and "top1" in b for b in blocks):
            raise ReportError(f"{path}: style {style!r} has no svm or logistic top1")
    if not isinstance(data.get("meta"), dict):
        data["meta"] = {}
    return Holdout(folder, data)


def backbone_label(meta: dict) -> str:
    """The backbone as the tables name it: meta backbone, " adapted" after each part from a network fine-tuned
    on another dataset (``training.adapt``), " +flip" for flip test-time augmentation."""
    parts = str(meta.get("backbone") or "?").split("+")
    adapted = meta.get("adapted") or False
    flags = adapted if isinstance(adapted, list) and len(adapted) == len(parts) else [bool(adapted)] * len(parts)
    label = "+".join(p + (" adapted" if a else "") for p, a in zip(parts, flags, strict=True))
    return label + (" +flip" if meta.get("tta") == "flip" else "")


def column_fine_tuned(column: Column) -> bool:
    """Features from a network fine-tuned on this dataset: meta says so, or the folder has the fine-tuned head's
    method. An adapted network's features count as frozen ones of their own backbone (its head as softmax)."""
    meta = column.data["meta"]
    return (bool(meta.get("fine_tuned")) or "head" in column.methods) and not meta.get("adapted")


def features_kind(meta: dict) -> str:
    """ "frozen", or "fine-tuned" for a network fine-tuned on this dataset (an adapted one's features are frozen)."""
    return "fine-tuned" if meta.get("fine_tuned") and not meta.get("adapted") else "frozen"


def column_subset(column: Column) -> str:
    return str(column.data["meta"].get("subset") or column.path.resolve().name)


def ordered_methods(names) -> list[str]:
    names = set(names)
    return [m for m in METHOD_ORDER if m in names] + sorted(names - set(METHOD_ORDER))


def class_name(wnid: str) -> str:
    """Readable name of a per_class key; the wnid is added where ILSVRC reuses the name ("crane").

    Keys are wnids, or ILSVRC indices as text where the features file had no wnids.
    """
    vocab = load_vocabulary()
    wnid = str(wnid)
    try:
        cls = vocab[int(wnid)] if wnid.isdigit() and int(wnid) < len(vocab) else vocab.by_wnid(wnid)
    except KeyError:
        return wnid
    return vocab.label(cls)


# --- formatting ------------------------------------------------------------------------------------


def pct(value) -> str:
    return MISSING if value is None else f"{100 * value:.1f}"


def number(value, digits: int = 3) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def top1_top5(metrics: dict | None) -> str:
    if metrics is None:
        return MISSING
    return f"{pct(metrics.get('top1'))} / {pct(metrics.get('top5'))}"


def text_table(header: list[str], rows: list[list[str]], indent: str = "  ", left: int = 1) -> str:
    """Aligned plain text: the first ``left`` columns left, the others right; a None row is a rule."""
    cells = [header] + [r for r in rows if r is not None]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row):
        cells = (c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        return indent + "  ".join(cells)

    rule = indent + "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule] + [rule if r is None else line(r) for r in rows])


def markdown_table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    align = [":---"] * left + ["---:"] * (len(header) - left)
    out = ["| " + " | ".join(map(esc, header)) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows if r is not None]
    return "\n".join(out)


# --- tables ----------------------------------------------------------------------------------------


def summary_table(columns: list[Column], split: str) -> tuple[list[str], list[list[str] | None]]:
    """Methods x folders, "top-1 / top-5" in %, then a row of sample counts (None marks the rule)."""
    methods = ordered_methods(m for c in columns for m in c.methods)
    header = ["method"] + [c.title for c in columns]
    rows: list[list[str] | None] = []
    for m in methods:
        rows.append([m] + [top1_top5((c.block(m, split) or {}).get("global")) for c in columns])
    counts = []
    for c in columns:
        ns = sorted({n for m in methods if (n := (c.block(m, split) or {}).get("global", {}).get("n")) is not None})
        # methods of one folder should see the same samples; show a range if they did not
        counts.append(MISSING if not ns else str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}")
    rows += [None, ["n"] + counts]
    return header, rows


def runs_cell(blocks: list[dict]) -> str:
    """One cell from one run's global metrics, or several runs' (seeds): "mean ± half the range" of each."""
    def spread(key):
        values = [b.get(key) for b in blocks if b.get(key) is not None]
        if not values:
            return MISSING
        mean = pct(sum(values) / len(values))
        return mean if len(values) == 1 else f"{mean} ± {100 * (max(values) - min(values)) / 2:.1f}"

    ns = sorted({b.get("n") for b in blocks if b.get("n") is not None})
    n = MISSING if not ns else str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"
    runs = f", {len(blocks)} runs" if len(blocks) > 1 else ""
    return f"{spread('top1')} / {spread('top5')} ({n}{runs})"


def backbone_table(columns: list[Column], split: str) -> tuple[list[str], list[list[str] | None]]:
    """Backbone x method rows (:data:`BACKBONE_ROWS` order), subset columns, "top-1 / top-5 (n)" cells;
    several folders of one cell (seeds of one recipe) give "mean ± half the range" over them."""
    subsets = list(dict.fromkeys(column_subset(c) for c in columns))
    cells: dict[tuple[str, int], dict[str, list[dict]]] = {}
    for c in columns:
        label, fine = backbone_label(c.data["meta"]), column_fine_tuned(c)
        for i, (method, on_fine_tuned, _) in enumerate(BACKBONE_ROWS):
            g = (c.block(method, split) or {}).get("global")
            if g and on_fine_tuned == fine:
                cells.setdefault((label, i), {}).setdefault(column_subset(c), []).append(g)
    rows: list[list[str] | None] = []
    for label in dict.fromkeys(backbone_label(c.data["meta"]) for c in columns):
        block = [[label, name] + [runs_cell(cells[(label, i)][s]) if s in cells[(label, i)] else MISSING
                                  for s in subsets]
                 for i, (_, _, name) in enumerate(BACKBONE_ROWS) if (label, i) in cells]
        rows += ([None] if rows and block else []) + block
    return ["backbone", "method"] + subsets, rows


def holdout_columns(holdouts: list[Holdout]) -> list[tuple[list[Holdout], str, str]]:
    """(files, method, title) per column: by method, then backbone (first seen first), frozen before fine-tuned.
    Files of one backbone, kind and method share a column: a fine-tuned network holds out one style per run,
    so its runs fill one column together (where two have the same style, the first given wins)."""
    backbones = list(dict.fromkeys(backbone_label(h.meta) for h in holdouts))
    order = sorted(holdouts, key=lambda h: (backbones.index(backbone_label(h.meta)), features_kind(h.meta) != "frozen"))
    columns: dict[str, tuple[list[Holdout], str]] = {}
    for method, name in HOLDOUT_METHODS.items():
        for h in order:
            if any(isinstance(r.get(method), dict) for r in h.styles.values()):
                kind = features_kind(h.meta)
                columns.setdefault(f"{backbone_label(h.meta)} {kind} {name}", ([], method))[0].append(h)
    return [(files, method, title) for title, (files, method) in columns.items()]


def holdout_result(files: list[Holdout], style: str, method: str) -> dict | None:
    """The first file's result of ``method`` on held-out ``style``, or None."""
    for h in files:
        r = h.styles.get(style, {}).get(method)
        if isinstance(r, dict) and r.get("top1") is not None:
            return r
    return None


def holdout_table(holdouts: list[Holdout]) -> tuple[list[str], list[list[str] | None]]:
    """Held-out styles x (backbone, kind, method), "top-1 (n)" cells, then the mean top-1 over styles every
    column has."""
    columns = holdout_columns(holdouts)
    styles = sorted({s for h in holdouts for s in h.styles})
    rows: list[list[str] | None] = []
    for s in styles:
        found = [holdout_result(files, s, m) for files, m, _ in columns]
        rows.append([s] + [MISSING if r is None else f"{pct(r['top1'])} ({r.get('n', MISSING)})" for r in found])
    common = [s for s in styles if all(holdout_result(files, s, m) for files, m, _ in columns)]
    means = [pct(float(np.mean([holdout_result(files, s, m)["top1"] for s in common]))) if common else MISSING
             for files, m, _ in columns]
    rows += [None, [f"mean of {len(common)} style{'' if len(common) == 1 else 's'}"] + means]
    return ["held-out style"] + [t for _, _, t in columns], rows


def style_table(column: Column, split: str) -> tuple[list[str], list[list[str]]] | None:
    """Styles x methods, top-1 %, for one folder; None where no method has per_style."""
    methods = [m for m in ordered_methods(column.methods) if (column.block(m, split) or {}).get("per_style")]
    if not methods:
        return None
    blocks = {m: column.block(m, split)["per_style"] for m in methods}
    styles = sorted({s for b in blocks.values() for s in b})
    rows = []
    for s in styles:
        n = next((b[s].get("n") for b in blocks.values() if s in b and b[s].get("n") is not None), None)
        rows.append([s, MISSING if n is None else str(n)]
                    + [pct(blocks[m][s].get("top1")) if s in blocks[m] else MISSING for m in methods])
    return ["style", "n"] + [f"{m} top-1" for m in methods], rows


def class_rows(per_class: dict) -> list[tuple[str, dict]]:
    """(name, metrics) of every class with samples, best top-1 first (then top-5, then lower loss)."""
    rows = [(class_name(w), m) for w, m in per_class.items() if isinstance(m, dict) and m.get("top1") is not None]

    def key(item):
        name, m = item
        ce = m.get("cross_entropy")
        return (-m["top1"], -(m.get("top5") or 0.0), float("inf") if ce is None else ce, name)

    return sorted(rows, key=key)


def worst_table(column: Column, method: str, split: str, k: int = WORST) -> tuple[list[str], list[list[str]]] | None:
    per_class = (column.block(method, split) or {}).get("per_class")
    if not per_class:
        return None
    worst = class_rows(per_class)[::-1][:k]
    with_ce = any(m.get("cross_entropy") is not None for _, m in worst)
    header = ["class", "n", "top-1", "top-5"] + (["cross-entropy"] if with_ce else [])
    rows = [[name, str(m.get("n", MISSING)), pct(m.get("top1")), pct(m.get("top5"))]
            + ([number(m.get("cross_entropy"))] if with_ce else []) for name, m in worst]
    return header, rows


# --- figures ---------------------------------------------------------------------------------------


def _short(label: str, limit: int = MAX_LABEL) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _save(fig, path: Path) -> Path:
    return save_figure(fig, path, dpi=100, bbox_inches="tight")


def file_stem(method: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.-]+", "_", method) or "method"


def plot_per_class(per_class: dict, method: str, split: str, path: Path) -> Path:
    """Horizontal bars of per-class top-1, best at the top (thesis Fig. 4.3 / 5.9)."""
    plt = pyplot()
    rows = class_rows(per_class)
    names = [_short(n) for n, _ in rows]
    values = [100 * m["top1"] for _, m in rows]
    with plt.rc_context({"text.parse_math": False}):  # class names are text, not TeX
        fig, ax = plt.subplots(figsize=(8, 1.2 + 0.22 * max(len(rows), 3)))
        y = np.arange(len(rows))
        ax.barh(y, values, color="tab:blue", height=0.75)
        ax.set_yticks(y, names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 105)
        ax.set_xlabel("top-1 accuracy (%)")
        ax.set_title(f"{method}: per-class top-1 on {split} ({len(rows)} classes)")
        for yi, v, (_, m) in zip(y, values, rows, strict=True):
            ax.text(min(v, 100) + 0.8, yi, f"{v:.0f}% (n={m.get('n')})", va="center", fontsize=7)
        ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def confusion_labels(confusion: dict) -> tuple[np.ndarray, list[str], list[str]]:
    """Row-normalised matrix with row and column names; ValueError if the block is malformed."""
    matrix = np.asarray(confusion.get("matrix"), dtype=float)
    if matrix.ndim != 2 or 0 in matrix.shape:
        raise ValueError("'matrix' is not a non-empty 2-D array")
    names = confusion.get("names") or [class_name(str(w)) for w in confusion.get("labels") or []]
    names = [str(n) for n in names]
    rows, cols = matrix.shape
    row_names = names[:rows] if len(names) >= rows else [str(i) for i in range(rows)]
    # a matrix one column wider than its labels counts predictions outside the label set
    col_names = names[:cols] if len(names) >= cols else row_names[:cols] + ["(other)"] * (cols - len(row_names))
    sums = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0), row_names, col_names


def plot_confusion(confusion: dict, method: str, split: str, path: Path) -> Path:
    plt = pyplot()
    norm, row_names, col_names = confusion_labels(confusion)
    rows, cols = norm.shape
    side = max(rows, cols)
    fontsize = 9 if side <= 20 else 7 if side <= 40 else 6
    with plt.rc_context({"text.parse_math": False}):
        fig, ax = plt.subplots(figsize=(3 + 0.2 * max(cols, 10), 2.5 + 0.2 * max(rows, 10)))
        im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
        ax.set_xticks(np.arange(cols), [_short(n, 24) for n in col_names], rotation=90, fontsize=fontsize)
        ax.set_yticks(np.arange(rows), [_short(n, 24) for n in row_names], fontsize=fontsize)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{method}: confusion on {split} (rows sum to 1)")
        if side <= 15:  # room for the numbers themselves
            for i in range(rows):
                for j in range(cols):
                    if norm[i, j] >= 0.005:
                        ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=7,
                                color="white" if norm[i, j] > 0.5 else "black")
        fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    return _save(fig, path)


def plot_per_style(column: Column, split: str, path: Path) -> Path | None:
    """Grouped horizontal bars: one group per style, one bar per method."""
    table = style_table(column, split)
    if table is None:
        return None
    plt = pyplot()
    methods = [m for m in ordered_methods(column.methods) if (column.block(m, split) or {}).get("per_style")]
    styles = [r[0] for r in table[1]]
    height = 0.8 / len(methods)
    with plt.rc_context({"text.parse_math": False}):
        fig, ax = plt.subplots(figsize=(8, 1.5 + len(styles) * (0.2 * len(methods) + 0.25)))
        y = np.arange(len(styles))
        for i, m in enumerate(methods):
            per_style = column.block(m, split)["per_style"]
            values = [100 * (per_style.get(s, {}).get("top1") or 0.0) for s in styles]
            ax.barh(y - 0.4 + height * (i + 0.5), values, height=height, label=m)
        ax.set_yticks(y, [_short(s) for s in styles], fontsize=9)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("top-1 accuracy (%)")
        ax.set_title(f"{column.title}: top-1 per style on {split}")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)  # never over a bar
        ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


# --- report ----------------------------------------------------------------------------------------


@dataclass
class Report:
    """The report as it grows: printed lines, report.md lines, files written, notes for stderr."""

    text: list[str] = field(default_factory=list)
    md: list[str] = field(default_factory=lambda: ["# drawnet evaluation report", ""])
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, title: str, header: list[str], rows: list, left: int = 1) -> None:
        self.text += [title, text_table(header, rows, left=left), ""]
        self.md += [f"## {title}", "", markdown_table(header, rows, left=left), ""]

    def figure(self, path: Path, alt: str) -> None:
        self.files.append(path)
        self.md += [f"![{alt}]({path.name})", ""]


def summary_section(r: Report, columns: list[Column], split: str) -> None:
    """The methods x folders table, the folders it came from, and the backbone table."""
    r.table(f"Top-1 / top-5 accuracy (%) on {split}", *summary_table(columns, split))
    for c in columns:
        meta = c.data["meta"]
        what = ", ".join(f"{k} {_listed(meta[k])}" for k in ("backbone", "layer", "features") if meta.get(k))
        line = f"{c.title}: {c.path}" + (f" ({what})" if what else "")
        r.text.append("  " + line)
        r.md.append(f"- {line}")
    r.text.append("")
    r.md.append("")
    header, rows = backbone_table(columns, split)
    if rows:
        r.table(f"Backbones and methods: top-1 / top-5 (%) (n) on {split}", header, rows, left=2)


def _listed(value) -> str:
    return " + ".join(map(str, value)) if isinstance(value, list) else str(value)


def details_section(r: Report, first: Column, split: str, out: Path) -> None:
    """Top-1 per style and the worst classes of the first folder, with their figures."""
    table = style_table(first, split)
    title = f"Top-1 (%) per style on {split}, {first.title}"
    if table:
        r.table(title, *table)
        r.figure(plot_per_style(first, split, out / "per_style_top1.png"), "top-1 per style")
    else:
        r.notes.append(f"{first.path / METRICS}: no per_style block on {split}; per_style_top1.png not written")

    for m in ordered_methods(first.methods):
        block = first.block(m, split)
        if block is None:
            continue
        table = worst_table(first, m, split)
        if table:
            r.table(f"{m}: the {WORST} worst classes on {split}, {first.title}", *table)
            r.figure(plot_per_class(block["per_class"], m, split, out / f"per_class_top1_{file_stem(m)}.png"),
                     f"{m} per-class top-1")
        else:
            r.notes.append(f"{first.path / METRICS}: {m}/{split} has no per_class block")
        if block.get("confusion"):
            try:
                path = plot_confusion(block["confusion"], m, split, out / f"confusion_{file_stem(m)}.png")
            except (ValueError, TypeError) as err:  # one bad block should not cost the whole report
                r.notes.append(f"{first.path / METRICS}: {m}/{split} confusion skipped ({err})")
            else:
                r.figure(path, f"{m} confusion")


def holdout_section(r: Report, holdouts: list[Holdout]) -> None:
    r.table("Cross-style hold-out: top-1 (%) (n) on each style, trained without it", *holdout_table(holdouts))
    for h in holdouts:
        line = f"{h.path / HOLDOUT}: {backbone_label(h.meta)}, {features_kind(h.meta)}"
        r.text.append("  " + line)
        r.md.append(f"- {line}")
    r.text.append("")
    r.md.append("")


def build_report(columns: list[Column], split: str, out: Path,
                 holdouts: list[Holdout] | None = None) -> tuple[str, list[Path], list[str]]:
    """Write OUT/report.md and the figures; return (printed text, files written, notes)."""
    out.mkdir(parents=True, exist_ok=True)
    r = Report()
    if columns:
        summary_section(r, columns, split)
    if holdouts:
        holdout_section(r, holdouts)
    if columns:
        details_section(r, columns[0], split, out)
    report = out / "report.md"
    atomic_write_text(report, "\n".join(r.md).rstrip() + "\n")
    return "\n".join(r.text).rstrip(), [report, *r.files], r.notes


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Tables and figures from evaluation results folders.", add_help=add_help)
    p.add_argument("--results", type=Path, action="extend", nargs="+", default=None, metavar="FOLDER",
                   help="results folder(s) (metrics.json), one column each; the first also gets the details")
    p.add_argument("--holdout", type=Path, action="extend", nargs="+", default=None, metavar="FOLDER",
                   help="folder(s) with holdout.json (evaluation.svm --holdout-style), columns of the hold-out table")
    p.add_argument("--split", default="val", help="which split to report (default %(default)s)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: <first results>/report, else <first holdout>/report)")
    return add_common_arguments(p)


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    results, holdout = args.results or [], args.holdout or []
    try:
        if not results and not holdout:
            raise UsageError("give at least one --results or --holdout folder")
        if args.out is not None:
            new_folder(args.out)
    except UsageError as err:
        return usage(PROG, err)
    try:
        columns = load_columns(results)
        holdouts = [load_holdout(h) for h in holdout]
    except (ValueError, OSError) as err:  # ReportError, read_metrics's bad JSON, unreadable file: all name it
        return fail(PROG, err)
    if columns and not any(c.block(m, args.split) for c in columns for m in c.methods):
        splits = sorted({s for c in columns for b in c.methods.values() for s in b if not s.startswith("_")})
        return fail(PROG, f"--split: no method in {', '.join(str(c.path / METRICS) for c in columns)} has split "
                     f"{args.split!r} (found: {', '.join(splits) or 'none'})")
    out = args.out if args.out is not None else (columns[0].path if columns else holdouts[0].path) / "report"
    try:
        text, files, notes = build_report(columns, args.split, out, holdouts)
    except OSError as err:  # a file where the folder goes, no permission
        return fail(PROG, err)
    print(text)
    for note in notes:
        print(f"{PROG}: {note}", file=sys.stderr)
    print()
    print(f"wrote {len(files)} files to {out}:")
    print("\n".join(f"  {f.name}" for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
