"""CLIP zero-shot scores of image files against class prompts, with open_clip weights already on disk.

Weights are never downloaded: :func:`find_clip_weights` looks in open_clip's and Hugging Face's
caches (or takes ``ClipConfig.weights``) and says where it looked. :func:`clip_log_probs` scores a
list of files over ILSVRC classes given by wnid ("a drawing of a {name}"; a name two classes share
gets the first part of its WordNet gloss). curation.hygiene and evaluation.suggest use it; nothing
here imports FiftyOne, and torch and open_clip are imported only when a model is loaded.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

WNID_SUFFIX = re.compile(r"^(.*) \((n\d{8})\)$")  # curation.load.class_label's "crane (n02012849)"


@dataclass
class ClipConfig:
    model: str = "ViT-B-32"  # open_clip model name
    pretrained: str = "openai"  # open_clip tag whose cached weights are looked for
    weights: str | None = None  # a weights file, instead of the caches
    template: str = "a drawing of a {}"  # the prompt; {} = the class name
    batch_size: int = 64
    device: str = "auto"  # "auto": cuda when available, else cpu


def add_clip_arguments(group) -> None:
    """The CLIP options of a command (``--no-clip``, ``--clip-model``, ``--clip-pretrained``, ``--clip-weights``,
    ``--clip-template``, ``--clip-batch-size``, ``--device``), defaults from :class:`ClipConfig`."""
    d = ClipConfig()
    group.add_argument("--no-clip", action="store_true", help="skip CLIP")
    group.add_argument("--clip-model", default=d.model, help="open_clip model name (default %(default)s)")
    group.add_argument("--clip-pretrained", default=d.pretrained,
                       help="open_clip pretrained tag whose cached weights are used (default %(default)s)")
    group.add_argument("--clip-weights", default=None, help="a weights file for --clip-model (instead of the caches)")
    group.add_argument("--clip-template", default=d.template, help="prompt, {} = class name (default %(default)r)")
    group.add_argument("--clip-batch-size", type=int, default=d.batch_size,
                       help="CLIP batch size (default %(default)s)")
    group.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N (default %(default)s)")


def clip_config(args) -> ClipConfig | None:
    """The options of :func:`add_clip_arguments` as a ClipConfig (None with ``--no-clip``), checked before anything
    is written: a ``scraping.cli.UsageError`` for a value that cannot work (exit 2), a ValueError for a
    ``--clip-weights`` file that is not there or a ``--device`` this machine lacks (exit 1)."""
    from scraping.cli import UsageError, at_least
    from training.runtime import check_device

    at_least(args.clip_batch_size, 1, "--clip-batch-size")
    if args.clip_template.count("{}") != 1:
        raise UsageError(f"--clip-template {args.clip_template!r}: give one {{}} where the class name goes")
    try:
        args.clip_template.format("x")
    except (IndexError, KeyError, ValueError) as err:
        raise UsageError(f"--clip-template {args.clip_template!r}: not a prompt template ({err}); "
                         "write the class name as {}") from None
    if args.device != "auto":  # auto is always there; checking another imports torch
        check_device(args.device)
    if args.no_clip:
        return None
    if args.clip_weights and not Path(args.clip_weights).is_file():
        raise ValueError(f"--clip-weights {args.clip_weights}: no such file")
    return ClipConfig(model=args.clip_model, pretrained=args.clip_pretrained, weights=args.clip_weights,
                      template=args.clip_template, batch_size=args.clip_batch_size, device=args.device)


def zero_shot(similarity: np.ndarray, given: np.ndarray, *,
              logit_scale: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """CLIP zero-shot: (probabilities (N, K), agreement (N,)) from cosine similarities (N, K) of images to prompts.

    ``given`` holds each image's class as a column index (-1: none, agreement NaN); agreement is the
    probability of that class. ``logit_scale`` is CLIP's learnt temperature (100 for the OpenAI models).
    """
    from scipy.special import softmax

    probs = softmax(logit_scale * np.asarray(similarity, dtype=np.float64), axis=1)
    given = np.asarray(given, dtype=np.int64)
    agreement = np.full(len(given), np.nan)
    ok = given >= 0
    agreement[ok] = probs[np.flatnonzero(ok), given[ok]]
    return probs, agreement


def label_prompts(labels: list[str], template: str, vocab=None) -> list[str]:
    """One prompt per ground-truth label; "crane (n02012849)", a name two ILSVRC classes share, gets the
    first part of its WordNet gloss instead of the wnid."""
    from datasets.vocabulary import load_vocabulary

    vocab = vocab or load_vocabulary()
    prompts = []
    for label in labels:
        shared = WNID_SUFFIX.match(label)
        if shared:
            cls = vocab.by_wnid(shared.group(2))
            label = f"{shared.group(1)}, {cls.definition.split(';')[0]}"
        prompts.append(template.format(label))
    return prompts


def wnid_prompts(wnids: list[str], template: str, vocab=None) -> list[str]:
    """:func:`label_prompts` of ILSVRC classes given by wnid (the name, with the wnid where two classes share it)."""
    from datasets.vocabulary import load_vocabulary

    vocab = vocab or load_vocabulary()
    labels = [vocab.label(vocab.by_wnid(wnid)) for wnid in wnids]
    return label_prompts(labels, template, vocab)


def find_clip_weights(model: str, pretrained: str, weights: str | None = None) -> tuple[str | None, list[str]]:
    """A weights file for ``model``/``pretrained`` already on disk, and every place looked at; never downloads."""
    if weights:
        return (weights if os.path.isfile(weights) else None), [weights]
    try:
        import open_clip
    except ImportError:
        return None, ["open_clip is not installed (pip install open_clip_torch)"]
    cfg = open_clip.get_pretrained_cfg(model, pretrained)
    if not cfg:
        known = ", ".join(open_clip.list_pretrained_tags_by_model(model)) or "none"
        return None, [f"open_clip has no pretrained tag {pretrained!r} for {model!r} (tags: {known})"]
    looked = []
    if cfg.get("file"):
        looked.append(cfg["file"])
        if os.path.isfile(cfg["file"]):
            return cfg["file"], looked
    if cfg.get("hf_hub"):
        from huggingface_hub import constants, try_to_load_from_cache
        from open_clip.constants import HF_WEIGHTS_NAME

        # "org/repo/" names the default file, "org/repo/file.pt" another one; a .safetensors twin wins, as in open_clip
        hub = cfg["hf_hub"]
        repo, filename = (hub.rstrip("/"), HF_WEIGHTS_NAME) if hub.endswith("/") else os.path.split(hub)
        for name in dict.fromkeys([str(Path(filename).with_suffix(".safetensors")), filename]):
            looked.append(f"{constants.HF_HUB_CACHE} ({repo}/{name})")
            found = try_to_load_from_cache(repo, name)
            if isinstance(found, str) and os.path.isfile(found):
                return found, looked
    if cfg.get("url"):
        path = os.path.join(os.path.expanduser("~/.cache/clip"), os.path.basename(cfg["url"]))
        looked.append(path)
        if os.path.isfile(path):
            return path, looked
    return None, looked


def clip_similarities(filepaths: list[str], prompts: list[str], cfg: ClipConfig,
                      weights: str) -> tuple[np.ndarray, float]:
    """Cosine similarities (N, K) of each image to each prompt (a NaN row: unreadable file), and the logit scale."""
    import open_clip
    import torch
    from tqdm import tqdm

    from training.images import load_rgb

    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    model, _, preprocess = open_clip.create_model_and_transforms(cfg.model, pretrained=weights, device=device)
    model.eval()
    tokenizer = open_clip.get_tokenizer(cfg.model)
    with torch.inference_mode():
        text = model.encode_text(tokenizer(prompts).to(device)).float()
        text = torch.nn.functional.normalize(text, dim=-1)
        sims = np.full((len(filepaths), len(prompts)), np.nan, dtype=np.float32)
        for start in tqdm(range(0, len(filepaths), cfg.batch_size), desc="clip", unit="batch"):
            batch, rows = [], []
            for i in range(start, min(start + cfg.batch_size, len(filepaths))):
                try:
                    batch.append(preprocess(load_rgb(filepaths[i])))
                    rows.append(i)
                except Exception as err:  # unreadable files: a NaN row, reported by the caller
                    logger.debug("clip: %s: %s", filepaths[i], err)
            if batch:
                image = model.encode_image(torch.stack(batch).to(device)).float()
                image = torch.nn.functional.normalize(image, dim=-1)
                sims[rows] = (image @ text.T).cpu().numpy()
        scale = float(model.logit_scale.exp().item())
    return sims, scale


def clip_log_probs(filepaths: list[str], wnids: list[str], cfg: ClipConfig) -> tuple[np.ndarray | None, dict]:
    """Zero-shot log-probabilities (N, K) of each file over the classes ``wnids``, and an info dict.

    Without weights on disk, or when they do not load, returns ``(None, {"status": "skipped", "reason", ...})``
    (the reason says where weights were looked for). An unreadable file gets a row of NaN.
    """
    from scipy.special import log_softmax

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download: open_clip would fetch a missing tokenizer
    weights, looked = find_clip_weights(cfg.model, cfg.pretrained, cfg.weights)
    if weights is None:
        reason = f"no weights for {cfg.model} ({cfg.pretrained}) on disk; looked in: {'; '.join(looked)}"
        return None, {"status": "skipped", "reason": reason, "looked": looked}
    prompts = wnid_prompts(list(wnids), cfg.template)
    try:
        sims, scale = clip_similarities(list(filepaths), prompts, cfg, weights)
    except Exception as err:  # a corrupt or mismatched weights file: go on without CLIP
        reason = f"{weights}: could not load {cfg.model} ({type(err).__name__}: {err})"[:500]
        return None, {"status": "skipped", "reason": reason, "looked": looked}
    logp = log_softmax(scale * sims.astype(np.float64), axis=1)
    info = {"status": "done", "model": cfg.model, "weights": weights, "prompt": cfg.template,
            "classes": len(prompts), "scored": int((~np.isnan(sims).any(axis=1)).sum()), "logit_scale": scale}
    return logp, info
