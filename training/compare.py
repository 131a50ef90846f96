"""How far fine-tuning moved each layer: the sum of squared differences (SSD) of the weights.

    python -m training.compare --a CKPT_A [--b CKPT_B] [--out DIR]

Compares two checkpoints of one backbone layer by layer (conv1_1 ... fc8 for VGG-19, as in
the thesis's Fig. D.5), or a checkpoint and its backbone's pretrained weights when --b is
left out. Only parameters count (weights and biases): batch-norm running statistics are
not learned by gradient descent. A head replaced for fewer classes cannot be compared with
a 1000-way one; its row says so instead of giving a number.

Prints a table and writes weight_ssd.csv, weight_ssd.json and weight_ssd.png to --out
(default: the folder of --a).
"""
from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import sys
from collections.abc import Collection, Sequence
from pathlib import Path

import torch

from datasets.manifest import atomic_write_text, write_json
from scraping.cli import add_common_arguments, check_folder, fail, setup_logging

from .figures import pyplot, save_figure
from .backbones import BACKBONES, Backbone, WeightsUnavailable, create_backbone
from .recipes import RECIPES, Layer, layers

logger = logging.getLogger(__name__)

STEM = "weight_ssd"
CHUNK = 1 << 22  # elements per float64 slice: VGG-19's fc6 (103M weights) in float64 at once would be 800 MB
GROUP_COLOURS = {"low": "tab:blue", "high": "tab:orange", "classifier": "tab:green", "head": "tab:red"}


class CompareError(ValueError):
    """A checkpoint that cannot be compared; the message names the file."""


def _ssd(a: torch.Tensor, b: torch.Tensor) -> float:
    """Sum of squared differences in float64, slice by slice: float32 sums of 10^8 terms lose digits."""
    a, b = a.detach().reshape(-1), b.detach().reshape(-1)
    total = 0.0
    for i in range(0, a.numel(), CHUNK):
        d = a[i:i + CHUNK].double() - b[i:i + CHUNK].double()
        total += float(torch.dot(d, d))
    return total


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) or "scalar"


def layer_ssd(state_a: dict, state_b: dict, layer_list: Sequence[Layer],
              names: Collection[str] | None = None) -> list[dict]:
    """One row per layer, in network order: {"layer", "group", "ssd", "params", "ssd_per_param"}.

    ``names`` restricts the keys that count to these (a network's parameter names, so that
    buffers such as running_mean are left out); by default every key of ``state_a`` counts.
    A layer whose shapes differ between a and b (a head replaced for fewer classes) gets
    ``ssd`` None and a ``note``; so does one whose difference is not finite (diverged weights).
    """
    keys = [k for k in state_a if names is None or k in names]
    rows = []
    for layer in layer_list:
        prefixes = tuple(f"{m}." for m in layer.modules)
        own = [k for k in keys if k.startswith(prefixes)]
        missing = [k for k in own if k not in state_b]
        if missing:
            raise ValueError(f"layer {layer.name}: {missing[0]} is in a but not in b")
        row = {"layer": layer.name, "group": layer.group, "ssd": None,
               "params": sum(state_a[k].numel() for k in own), "ssd_per_param": None}
        differ = next((k for k in own if state_a[k].shape != state_b[k].shape), None)
        if differ is not None:
            row["note"] = f"shapes differ ({differ}: {_shape(state_a[differ])} vs {_shape(state_b[differ])})"
        else:
            ssd = sum(_ssd(state_a[k], state_b[k]) for k in own)
            if math.isfinite(ssd):
                row["ssd"] = ssd
                row["ssd_per_param"] = ssd / row["params"] if row["params"] else None
            else:
                row["note"] = "not finite (NaN or infinite weights)"
        rows.append(row)
    return rows


def read_checkpoint(path: Path) -> tuple[dict, dict]:
    """(state dict without the "net." prefix, the run's "args" or {}), from one read.

    backbones.load_state_dict gives the state but drops the args (which say the backbone),
    and a VGG-19 checkpoint is over half a gigabyte: read it once, here. "imagenet_index"
    (which classes a replaced head scores) is not a weight and is dropped.
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CompareError(f"{path}: no such file") from None
    # a damaged file raises RuntimeError, EOFError, UnpicklingError, IndexError, KeyError, struct.error ...
    except Exception as err:  # noqa: BLE001 - every one of them means "not readable"
        first = (str(err).strip().splitlines() or [""])[0]
        raise CompareError(f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}: {first})") from None
    meta: dict = {}
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        meta = {"epoch": obj.get("epoch"), "recipe": obj.get("recipe"),
                **(obj["args"] if isinstance(obj.get("args"), dict) else {})}
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CompareError(f"{path}: holds a {type(obj).__name__} that is not a state dict of tensors")
    state = {k.removeprefix("net."): v for k, v in obj.items() if k != "imagenet_index"}
    return state, meta


def backbone_spec(name: str, batch_norm: bool = False) -> tuple[str, dict]:
    """create_backbone's (name, options); "vgg19_bn" (VGG-19 with batch norm's Backbone.name) is accepted too."""
    if name == "vgg19_bn":
        return "vgg19", {"batch_norm": True}
    return name, {"batch_norm": True} if batch_norm and name == "vgg19" else {}


def _named(path: Path, meta: dict, override: str | None) -> tuple[str, dict] | None:
    """The backbone a checkpoint says it holds (or --backbone), None when neither says."""
    name = override or meta.get("backbone")
    if not name:
        return None
    if name not in BACKBONES and name != "vgg19_bn":
        raise CompareError(f"{path}: unknown backbone {name!r}; pass --backbone ({', '.join(BACKBONES)}, vgg19_bn)")
    # training.finetune records the recipe; batch norm is part of it (recipe B), not an option of its own
    recipe = RECIPES.get(meta.get("recipe") or "")
    batch_norm = bool(meta.get("batch_norm") or (recipe and recipe.batch_norm))
    return backbone_spec(name, batch_norm and not override)


def _check_keys(path: Path, state: dict, skeleton: Backbone, context: str) -> None:
    """Every parameter of the backbone present, nothing foreign: else the files hold different networks."""
    params = {n for n, _ in skeleton.net.named_parameters()}
    missing = sorted(params - state.keys())
    unexpected = sorted(state.keys() - skeleton.net.state_dict().keys())
    if missing or unexpected:
        parts = ([f"{len(missing)} parameters missing (e.g. {missing[0]})"] if missing else []) + (
            [f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})"] if unexpected else [])
        raise CompareError(f"{path}: does not hold the {skeleton.name} network{context}: {', '.join(parts)}")


def _label(path: Path, meta: dict) -> str:
    return f"{path.name} (epoch {meta['epoch']})" if meta.get("epoch") is not None else path.name


def _started_from(path: Path, meta: dict) -> Path | None:
    """The pretrained file a training.finetune run started from (its --weights), when it is here.

    Without network access VGG-19 is fine-tuned from a file; that file, not torchvision's
    default, is what the run changed."""
    weights = meta.get("weights")
    if not weights or weights == "random":
        return None
    if Path(weights).is_file():
        logger.info("comparing with the weights %s started from: %s", path.name, weights)
        return Path(weights)
    logger.warning("%s started from %s, which is not here: comparing with the pretrained default", path, weights)
    return None


def compare(a: Path, b: Path | None = None, backbone: str | None = None) -> dict:
    """The SSD rows and what was compared: {"a", "b", "backbone", "total_ssd", "layers"}.

    Without ``b``: the weights the run started from (its --weights file), else the
    backbone's pretrained default."""
    state_a, meta_a = read_checkpoint(a)
    spec = _named(a, meta_a, backbone)
    if spec is None:
        raise CompareError(f"{a}: a plain state dict that does not say its backbone: pass --backbone "
                           f"({', '.join(BACKBONES)}, vgg19_bn)")
    name, options = spec
    with torch.device("meta"):  # only the names and layout: no memory, no init time
        skeleton = create_backbone(name, weights="random", **options)
    _check_keys(a, state_a, skeleton, " (as its args or --backbone say)")
    if b is None:
        b = _started_from(a, meta_a)
    if b is None:
        try:
            reference = create_backbone(name, **options)
        except WeightsUnavailable as err:
            raise WeightsUnavailable(f"{err} (training.compare takes such a file as --b PATH.)") from None
        state_b = reference.net.state_dict()
        label_b = f"{reference.name} pretrained ({Path(reference.weights).name})"
    else:
        state_b, meta_b = read_checkpoint(b)
        spec_b = _named(b, meta_b, backbone)
        if spec_b is not None and spec_b != spec:
            raise CompareError(f"backbone mismatch: {a} holds {skeleton.name}, {b} holds "
                               f"{spec_b[0]}{'_bn' if spec_b[1].get('batch_norm') else ''}")
        _check_keys(b, state_b, skeleton, f" like {a} (backbone mismatch)")
        label_b = _label(b, meta_b)
    names = {n for n, _ in skeleton.net.named_parameters()}
    rows = layer_ssd(state_a, state_b, layers(skeleton), names)
    counted = sum(r["params"] for r in rows)
    if counted != sum(state_a[n].numel() for n in names):
        logger.warning("some parameters belong to no layer of recipes.layers(%s): not counted", skeleton.name)
    known = [r["ssd"] for r in rows if r["ssd"] is not None]
    return {"a": str(a), "b": str(b) if b else label_b, "label_a": _label(a, meta_a), "label_b": label_b,
            "backbone": skeleton.name, "total_ssd": sum(known) if known else None, "layers": rows}


def _number(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def format_table(result: dict) -> str:
    lines = [f"weight SSD per layer ({result['backbone']}): {result['label_a']} vs {result['label_b']}",
             f"{'layer':<12} {'group':<11} {'params':>12} {'SSD':>12} {'SSD/param':>12}"]
    for r in result["layers"]:
        note = f"  {r['note']}" if r.get("note") else ""
        lines.append(f"{r['layer']:<12} {r['group']:<11} {r['params']:>12,} {_number(r['ssd']):>12} "
                     f"{_number(r['ssd_per_param']):>12}{note}")
    lines.append(f"{'total':<12} {'':<11} {sum(r['params'] for r in result['layers']):>12,} "
                 f"{_number(result['total_ssd']):>12}")
    return "\n".join(lines)


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    fields = ["layer", "group", "params", "ssd", "ssd_per_param", "note"]
    writer = csv.DictWriter(buf, fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({f: r.get(f) for f in fields} for r in rows)
    return buf.getvalue()


def plot(result: dict, path: Path) -> Path:
    """Bars per layer in network order, log y, coloured by group; layers without a number are marked."""
    from matplotlib.patches import Patch

    plt = pyplot()
    rows = result["layers"]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.5 + 0.35 * len(rows)), 4.5))
    try:
        shown = [(i, r) for i, r in zip(x, rows) if r["ssd"]]  # log scale: zero and None have no bar
        ax.bar([i for i, _ in shown], [r["ssd"] for _, r in shown],
               color=[GROUP_COLOURS.get(r["group"], "tab:gray") for _, r in shown])
        if shown:
            ax.set_yscale("log")
        for i, r in zip(x, rows):
            if not r["ssd"]:
                text = "0" if r["ssd"] == 0 else "n/a"
                ax.text(i, 0.02, text, transform=ax.get_xaxis_transform(), ha="center", fontsize=8,
                        rotation=90 if text == "n/a" else 0)
        ax.set_xticks(list(x), [r["layer"] for r in rows], rotation=90, fontsize=8)
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.set_xlabel("layer")
        ax.set_ylabel("sum of squared differences")
        ax.set_title(f"weight SSD per layer ({result['backbone']}): {result['label_a']} vs {result['label_b']}",
                     fontsize=9, parse_math=False)  # file names are text, not TeX
        groups = dict.fromkeys(r["group"] for r in rows)
        ax.legend(handles=[Patch(color=GROUP_COLOURS.get(g, "tab:gray"), label=g)
                           for g in groups], fontsize=8)
        notes = [f"{r['layer']}: {r['note']}" for r in rows if r.get("note")]
        if notes:
            fig.text(0.01, 0.005, "n/a = " + "; ".join(notes), fontsize=7, ha="left", va="bottom", parse_math=False)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout(rect=(0, 0.04 if notes else 0, 1, 1))
    except BaseException:
        plt.close(fig)
        raise
    return save_figure(fig, path, dpi=100)


def write_outputs(result: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{STEM}.csv", out / f"{STEM}.json", out / f"{STEM}.png"]
    atomic_write_text(paths[0], _csv(result["layers"]))
    write_json(paths[1], result)
    plot(result, paths[2])
    return paths


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Sum of squared weight differences per layer between two checkpoints.",
                                add_help=add_help)
    p.add_argument("--a", type=Path, required=True, help="checkpoint from training.finetune (or a state dict)")
    p.add_argument("--b", type=Path, default=None,
                   help="checkpoint or state dict to compare with (default: the backbone's pretrained weights)")
    p.add_argument("--backbone", default=None, choices=sorted([*BACKBONES, "vgg19_bn"]),
                   help="the network both files hold (default: the one the checkpoint's args name)")
    p.add_argument("--out", type=Path, default=None, help="folder for weight_ssd.{csv,json,png} (default: --a's)")
    return add_common_arguments(p)


def main(args: argparse.Namespace) -> int:
    setup_logging(args)
    out = args.out or args.a.parent
    try:
        check_folder(out)
        result = compare(args.a, args.b, args.backbone)
        print(format_table(result))
        paths = write_outputs(result, out)
    except (ValueError, OSError, WeightsUnavailable) as err:
        return fail("training.compare", " ".join(str(err).split()))  # one line, whatever the exception put in it
    print(f"wrote {', '.join(map(str, paths))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
