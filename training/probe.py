"""A linear probe as a new head's starting point (recipe ``drawings``: ``head_init="probe"``).

A new, random head fine-tuned with the body pulls the pretrained features towards
whatever that random head needs first; starting from a head already fitted to the frozen
features avoids that (linear probing, then fine-tuning: Kumar et al., ICLR 2022). The fit is
a multinomial logistic regression on the training images' centre crops, full batch, L-BFGS,
with an L2 penalty; it takes one pass of the network over the train split.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from .data import LabelledImages, collate

logger = logging.getLogger(__name__)


@torch.no_grad()  # not inference_mode: the features feed an autograd fit
def frozen_features(backbone, dataset: LabelledImages, device: torch.device, batch_size: int = 64,
                    workers: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, D), targets (N,)) of a dataset whose transform stops at uint8, in eval mode."""
    backbone.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate)
    feats, targets = [], []
    for x, y, _, _ in tqdm(loader, desc="linear probe: features", unit=" batch", disable=None, leave=False):
        if x is None:
            continue
        x = backbone.preprocessing.normalize(x.to(device)).contiguous(memory_format=torch.channels_last)
        feats.append(backbone(x)[0].float().cpu())
        targets.append(y)
    if not feats:
        raise ValueError("linear probe: no readable training images")
    return torch.cat(feats), torch.cat(targets)


def fit_softmax(x: torch.Tensor, y: torch.Tensor, num_classes: int, l2: float = 1e-3,
                steps: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight (C, D), bias (C,)) of a multinomial logistic regression, minimising the mean NLL
    plus ``l2`` times the squared weights, by full-batch L-BFGS (deterministic)."""
    x, y = x.detach().double(), y.long()
    w = torch.zeros(num_classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=steps, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ w.T + b, y) + l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach().float(), b.detach().float()


def init_head_from_probe(backbone, dataset: LabelledImages, device: torch.device, *, l2: float = 1e-3,
                         batch_size: int = 64) -> float:
    """Set the backbone's (new) head to a linear probe of its frozen features; return the probe's
    training accuracy (a sanity check: it should be high)."""
    x, y = frozen_features(backbone, dataset, device, batch_size)
    head = backbone.net.get_submodule(backbone.head)
    w, b = fit_softmax(x, y, head.out_features, l2)
    with torch.no_grad():
        head.weight.copy_(w.to(head.weight))
        head.bias.copy_(b.to(head.bias))
        accuracy = float(((x @ w.T + b).argmax(1) == y).float().mean())
    logger.info("linear probe: the new head fitted to the frozen features of %d train images (train top-1 %.1f%%)",
                len(y), 100 * accuracy)
    return accuracy
