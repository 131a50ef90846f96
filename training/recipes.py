"""Fine-tuning recipes as data: which layers are re-initialised, kept, frozen, and at what learning rate.

Every backbone's layers fall into four groups:

    low         the lower convolutions (VGG-19's conv1 to conv10, the thesis's "low layers")
    high        the upper convolutions (VGG-19's conv11 to conv16)
    classifier  hidden fully connected layers (VGG-19's fc6 and fc7; none in EfficientNet-Lite0)
    head        the final layer (fc8): replaced by a new one when the classes differ from ImageNet's

A recipe gives each group an action (``keep`` the pretrained weights and train them,
``reinit`` them and train, or ``freeze`` them) and a learning rate.

    optimal  the thesis's best VGG-19: conv1-10 re-initialised at 1e-2, conv11-16 kept at 1e-4,
             fc6-fc8 re-initialised at 1e-2 (the default)
    A        retrain as on ImageNet: everything re-initialised, 1e-2
    B        A with batch norm after every convolution
    C        the upper convolutions frozen, the rest fine-tuned at 1e-3
    D        the low layers reset (1e-2), the upper ones frozen, the classifier fine-tuned (1e-3)
    E        the classifier reset (1e-2), the upper ones frozen, the low layers fine-tuned (1e-3)
    finetune everything kept, the body at 1e-3 and a new head at 1e-2 (a small pretrained net)
    linear   only a new head is trained
    drawings for drawings, with a small pretrained net (EfficientNet-Lite): the new head starts as a linear probe
             (logistic regression on the frozen features), then the upper layers and the head are fine-tuned
             at 1e-3 with label smoothing 0.1 and drawing-style augmentation (palette, line weight, fills);
             the low layers stay frozen. Its measured effect is at the recipe.

A to E are our reading of the thesis's exploratory models (its chapter 5); where it is
silent on a group we fine-tune it at 1e-3.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from torch import nn

GROUPS = ("low", "high", "classifier", "head")
ACTIONS = ("keep", "reinit", "freeze")


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    actions: dict[str, str]  # group -> keep | reinit | freeze
    lr: dict[str, float]  # group -> learning rate (unused for frozen groups)
    batch_norm: bool = False  # VGG-19 with batch norm (recipe B)
    head_init: str = "random"  # "probe": a new head starts as logistic regression on the frozen features
    label_smoothing: float = 0.0  # the training loss's; 0 is the thesis's log-softmax + NLL
    augment: dict = field(default_factory=dict)  # overrides of training.data.Augment's defaults

    def trains(self, group: str) -> bool:
        return self.actions[group] != "freeze"

    def needs_pretrained(self) -> bool:
        """False when every group is re-initialised: no pretrained weights are read."""
        return any(a != "reinit" for a in self.actions.values())


def _recipe(name, description, low, high, classifier, head, batch_norm=False, **training) -> Recipe:
    groups = dict(zip(GROUPS, (low, high, classifier, head)))
    return Recipe(name, description, {g: a for g, (a, _) in groups.items()}, {g: lr for g, (_, lr) in groups.items()},
                  batch_norm, **training)


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    _recipe("optimal", "the thesis's best VGG-19: low layers and classifier reset, upper convolutions kept",
            ("reinit", 1e-2), ("keep", 1e-4), ("reinit", 1e-2), ("reinit", 1e-2)),
    _recipe("A", "retrain as on ImageNet", ("reinit", 1e-2), ("reinit", 1e-2), ("reinit", 1e-2), ("reinit", 1e-2)),
    _recipe("B", "retrain as on ImageNet, with batch norm between the convolutions",
            ("reinit", 1e-2), ("reinit", 1e-2), ("reinit", 1e-2), ("reinit", 1e-2), batch_norm=True),
    _recipe("C", "upper convolutions frozen", ("keep", 1e-3), ("freeze", 0.0), ("keep", 1e-3), ("keep", 1e-3)),
    _recipe("D", "low layers reset, upper convolutions frozen",
            ("reinit", 1e-2), ("freeze", 0.0), ("keep", 1e-3), ("keep", 1e-3)),
    _recipe("E", "classifier reset, upper convolutions frozen",
            ("keep", 1e-3), ("freeze", 0.0), ("reinit", 1e-2), ("reinit", 1e-2)),
    _recipe("finetune", "everything kept: the body at 1e-3, the head at 1e-2",
            ("keep", 1e-3), ("keep", 1e-3), ("keep", 1e-3), ("keep", 1e-2)),
    _recipe("linear", "only a new head", ("freeze", 0.0), ("freeze", 0.0), ("freeze", 0.0), ("reinit", 1e-2)),
    # Measured (benchmarks/drawings_protocol.sh finetune: EfficientNet-Lite0, the embedded thesis subset's split,
    # 1108 train / 275 val images, 31 classes, 4 epochs at batch 32 on CPU, seeds 0-2, mean ± half the range):
    # the fine-tuned head 76.5 ± 0.7% val top-1 and an SVM on its features 78.5 ± 1.5%, against 73.5% for
    # logistic regression and 73.1% for the SVM on the frozen features: +3.0 and +5.5 points.
    _recipe("drawings", "a linear-probe head, then the upper layers fine-tuned, with drawing-style augmentation",
            ("freeze", 0.0), ("keep", 1e-3), ("keep", 1e-3), ("keep", 1e-3),
            head_init="probe", label_smoothing=0.1, augment={"style": 0.5}),
)}


@dataclass
class Layer:
    name: str  # conv1_1, fc6, blocks.3 ...
    group: str
    modules: list[str] = field(default_factory=list)  # paths in the backbone's network


def _vgg_layers(net: nn.Module) -> list[Layer]:
    convs: list[Layer] = []
    for i, m in enumerate(net.features):
        if isinstance(m, nn.Conv2d):
            convs.append(Layer("", "", [f"features.{i}"]))
        elif isinstance(m, nn.BatchNorm2d):
            convs[-1].modules.append(f"features.{i}")  # the batch norm belongs to its convolution
    block, k = 1, 0
    for n, layer in enumerate(convs):  # VGG-19's blocks hold 2, 2, 4, 4, 4 convolutions
        k += 1
        if (block <= 2 and k > 2) or k > 4:
            block, k = block + 1, 1
        layer.name, layer.group = f"conv{block}_{k}", "low" if n < 10 else "high"
    return convs + [Layer("fc6", "classifier", ["classifier.0"]), Layer("fc7", "classifier", ["classifier.3"]),
                    Layer("fc8", "head", ["classifier.6"])]


def _lite_layers(net: nn.Module) -> list[Layer]:
    # Lite0's blocks 0-9 of 16 are the lower stages, like conv1-10 of VGG-19; 10-15 and the 1x1 head conv the
    # upper ones. Lite1 and Lite2 repeat blocks more (21): the same share, 13 of them, is low.
    n_low = round(len(net._blocks) * 10 / 16)
    low = [Layer("stem", "low", ["_conv_stem", "_bn0"])]
    blocks = [Layer(f"block{i}", "low" if i < n_low else "high", [f"_blocks.{i}"]) for i in range(len(net._blocks))]
    return low + blocks + [Layer("conv_head", "high", ["_conv_head", "_bn1"]), Layer("fc", "head", ["_fc"])]


def _tiny_layers(net: nn.Module) -> list[Layer]:
    return [Layer("conv1", "low", ["0"]), Layer("conv2", "high", ["2"]), Layer("fc", "classifier", ["6"]),
            Layer("head", "head", ["8"])]


LAYERS = {"vgg19": _vgg_layers, "vgg19_bn": _vgg_layers, "efficientnet-lite0": _lite_layers,
          "efficientnet-lite1": _lite_layers, "efficientnet-lite2": _lite_layers, "tiny": _tiny_layers}


def layers(backbone) -> list[Layer]:
    """The backbone's layers in order, each with its group; every parameter belongs to one."""
    return LAYERS[backbone.name](backbone.net)


def caffe_uniform_(module: nn.Module) -> None:
    """Re-initialise as the thesis did: Caffe's "xavier" filler, uniform in +-sqrt(3 / fan_in),
    biases zero; batch norm back to identity with fresh running statistics."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            bound = math.sqrt(3.0 / fan_in)
            nn.init.uniform_(m.weight, -bound, bound)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_parameters()


def apply_recipe(backbone, recipe: Recipe) -> list[dict]:
    """Re-initialise and freeze in place; return one row per layer (name, group, action, lr, params).

    The head is re-initialised whenever ``reinit`` says so; one that was just replaced for new
    classes is new whatever the recipe says, and its row says so."""
    rows = []
    replaced = getattr(backbone, "imagenet_index", None) is not None
    for layer in layers(backbone):
        action = recipe.actions[layer.group]
        for path in layer.modules:
            module = backbone.net.get_submodule(path)
            if action == "reinit":
                caffe_uniform_(module)
            for p in module.parameters():
                p.requires_grad_(action != "freeze")
        shown = action
        if layer.group == "head" and replaced and action != "reinit":
            shown = f"new ({backbone.num_classes} classes)" if action == "keep" else "new, frozen"
        params = sum(p.numel() for path in layer.modules for p in backbone.net.get_submodule(path).parameters())
        rows.append({"layer": layer.name, "group": layer.group, "action": shown,
                     "lr": recipe.lr[layer.group] if action != "freeze" else 0.0, "params": params})
    return rows


def frozen_modules(backbone, recipe: Recipe) -> list[nn.Module]:
    """Modules of frozen groups: kept in eval mode while training, so batch norm statistics stay put."""
    return [backbone.net.get_submodule(path) for layer in layers(backbone)
            if recipe.actions[layer.group] == "freeze" for path in layer.modules]


def param_groups(backbone, recipe: Recipe, *, weight_decay: float, lr_scale: float = 1.0) -> list[dict]:
    """Optimizer parameter groups: one per (group, decayed or not); biases and norms are not decayed."""
    out: dict[tuple[str, bool], list] = {}
    for layer in layers(backbone):
        if not recipe.trains(layer.group):
            continue
        for path in layer.modules:
            for pname, p in backbone.net.get_submodule(path).named_parameters():
                if p.requires_grad:
                    out.setdefault((layer.group, p.ndim > 1), []).append(p)
    return [{"params": ps, "name": f"{g}" + ("" if decay else "/no_decay"), "lr": recipe.lr[g] * lr_scale,
             "weight_decay": weight_decay if decay else 0.0} for (g, decay), ps in out.items()]


def format_table(rows: list[dict], recipe: Recipe) -> str:
    head = f"recipe {recipe.name}: {recipe.description}"
    lines = [head, f"{'layer':<12} {'group':<11} {'action':<20} {'lr':>8} {'params':>12}"]
    for r in rows:
        lr = f"{r['lr']:.0e}" if r["lr"] else "-"
        lines.append(f"{r['layer']:<12} {r['group']:<11} {r['action']:<20} {lr:>8} {r['params']:>12,}")
    return "\n".join(lines)
