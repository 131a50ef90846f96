"""Which network ``evaluation.extract`` runs: ``--backbone`` a network's name or a checkpoint of training.finetune /
training.adapt, ``--weights`` and ``--layer``, checked before anything is written."""
from __future__ import annotations

from pathlib import Path

import torch

from scraping.cli import UsageError
from training.backbones import DEFAULT_LAYERS, VGG_LAYERS


def checkpoint_settings(weights: str | None) -> dict:
    """The settings a ``training.finetune`` checkpoint was trained with, or {} for anything else."""
    if not weights or weights == "random" or not Path(weights).is_file():
        return {}
    try:
        obj = torch.load(weights, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # a plain state dict that is not ours, or unreadable: create_backbone says so
        return {}
    args = obj.get("args") if isinstance(obj, dict) else None
    return args if isinstance(args, dict) else {}


def backbone_and_weights(backbone: str, weights: str | None) -> tuple[str, str | None]:
    """``--backbone`` is a network's name, or a checkpoint of ``training.finetune``/``training.adapt``: then the
    network is the one it was trained from, and the checkpoint its weights. A UsageError otherwise (a name that is
    neither, a checkpoint given weights twice, a plain state dict that belongs in ``--weights``)."""
    if backbone in DEFAULT_LAYERS:
        return backbone, weights
    if not Path(backbone).is_file():
        raise UsageError(f"--backbone {backbone}: neither a network ({', '.join(sorted(DEFAULT_LAYERS))}) "
                         "nor a checkpoint file")
    if weights is not None:
        raise UsageError(f"--backbone {backbone} is a checkpoint: give its weights there or in --weights, not both")
    name = checkpoint_settings(backbone).get("backbone")
    if name not in DEFAULT_LAYERS:
        raise UsageError(f"--backbone {backbone}: not a checkpoint of training.finetune or training.adapt "
                         "(it names no network); pass --backbone NAME --weights PATH for a plain state dict")
    return name, backbone


def check_layer(backbone: str, layer: str | None) -> None:
    """``--layer`` must be one of the network's feature layers (None: its default)."""
    layers = tuple(VGG_LAYERS) if backbone.startswith("vgg19") else (DEFAULT_LAYERS[backbone],)
    if layer is not None and layer not in layers:
        raise UsageError(f"--layer {layer}: {backbone} has no such layer; choose from {', '.join(layers)}")
