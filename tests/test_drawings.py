"""Issue 15: the stronger offline backbones, their preprocessing, the test-time flip, the drawing-style
augmentation, the linear-probe head and the ``drawings`` recipe, and the fine-tune's style holdout."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from evaluation.extract import ExtractConfig, extract, forward_batch
from evaluation.features import read_features
from tests.test_extract import manifest
from training import finetune
from training.backbones import LITE, LITE_SIZES, create_backbone, normalization_name, renormalized
from training.data import Augment, DrawingStyle, train_transform
from training.images import load_rgb
from training.probe import fit_softmax, init_head_from_probe
from training.recipes import RECIPES, apply_recipe, layers


@pytest.mark.parametrize("name", ["efficientnet-lite1", "efficientnet-lite2"])
def test_lite_backbones_load_their_imagenet_weights(name):
    from efficientnet_lite_pytorch import EfficientNet  # noqa: F401  (the code package they share)

    net = create_backbone(name)
    size = LITE_SIZES[name]
    assert net.preprocessing.size == size and net.preprocessing.resize == round(size / 0.875)
    assert net.preprocessing.mean == LITE.mean and net.preprocessing.interpolation == "bicubic"
    assert net.weights.endswith(".pth") and len(net.weights_sha256) == 64
    state = torch.load(net.weights, map_location="cpu", weights_only=True)
    # every tensor of the file is in the network, unchanged: no missing keys, nothing left random
    ours = net.net.state_dict()
    assert set(ours) == set(state) and all(torch.equal(ours[k], state[k]) for k in state)
    with torch.no_grad():
        feats, logits = net(torch.zeros(2, 3, size, size))
    assert feats.shape == (2, 1280) and logits.shape == (2, 1000)
    # the upper share of the deeper Lite variants is "high", as Lite0's blocks 10-15 are
    groups = [layer.group for layer in layers(net)]
    assert groups.count("low") == 1 + 13 and groups[-1] == "head"


def test_preprocessing_normalisations():
    lite0 = create_backbone("efficientnet-lite0")
    assert normalization_name(lite0.preprocessing) == "lite"
    imagenet = renormalized(lite0.preprocessing, "imagenet")
    assert normalization_name(imagenet) == "imagenet" and imagenet.size == 224
    x = torch.full((1, 3, 2, 2), 127, dtype=torch.uint8)
    assert lite0.preprocessing.normalize(x).abs().max() < 1e-6  # (127 - 127) / 128
    assert imagenet.normalize(x)[0, 0, 0, 0] == pytest.approx((127 / 255 - 0.485) / 0.229, rel=1e-5)
    with pytest.raises(ValueError, match="unknown normalisation 'caffe'"):
        renormalized(lite0.preprocessing, "caffe")


def test_flip_features_are_the_mean_of_both_passes(tmp_path):
    m = manifest(tmp_path, n=6, bad=False)
    plain, flipped = tmp_path / "plain.h5", tmp_path / "flip.h5"
    extract(ExtractConfig(manifest=m, out=plain, backbone="tiny", weights="random", device="cpu"))
    extract(ExtractConfig(manifest=m, out=flipped, backbone="tiny", weights="random", device="cpu", tta="flip",
                          normalize="imagenet"))
    a, b = read_features(plain), read_features(flipped)
    assert b.attrs["tta"] == "flip" and b.attrs["normalize"] == "imagenet" and a.attrs["tta"] == "none"
    # by hand: two separate forward passes, of the image and of its mirror, averaged
    net = create_backbone("tiny", weights="random")
    prep = renormalized(net.preprocessing, "imagenet")
    x = torch.stack([prep.transform()(load_rgb(p)) for p in b.filepaths])
    with torch.no_grad():
        (f1, l1), (f2, l2) = net(x), net(torch.flip(x, dims=[3]))
    assert np.allclose(b.features, ((f1 + f2) / 2).numpy(), atol=1e-5)
    assert np.allclose(b.logits, ((l1 + l2) / 2).numpy(), atol=1e-4)
    assert not np.allclose(a.features, b.features, atol=1e-3)  # the flip changed something
    with pytest.raises(ValueError, match="unknown --tta 'rotate'"):
        forward_batch(net, x, "rotate")


def _drawing() -> torch.Tensor:
    x = torch.full((3, 40, 40), 255, dtype=torch.uint8)
    x[:, 10:30, 10:30] = torch.tensor([200, 40, 40], dtype=torch.uint8).view(3, 1, 1)  # a red fill
    x[:, 20, 5:35] = 0  # a one-pixel black line
    x[:, 5:8, 5:35] = 0  # a three-pixel one
    return x


def test_drawing_style_changes():
    x = _drawing()
    torch.manual_seed(3)
    recoloured = DrawingStyle.palette(x)
    assert recoloured.shape == x.shape and recoloured.dtype == torch.uint8
    assert sorted(recoloured[:, 15, 15].tolist()) == sorted(x[:, 15, 15].tolist()) or \
        len(set(recoloured[:, 15, 15].tolist())) == 1  # a permutation of the fill, or grey
    dark = (x == 0).all(0).sum()
    assert (DrawingStyle.line_weight(x, thicker=True) == 0).all(0).sum() > dark
    thinner = DrawingStyle.line_weight(x, thicker=False)
    assert 0 < (thinner == 0).all(0).sum() < dark  # the 3-px line survives, thinner; the 1-px one goes
    shaded = DrawingStyle.gradient_fill(x)
    white = (x == 255).all(0)
    assert (shaded[:, white] == 255).all()  # the background stays white
    fill = shaded[0, 10:30, 10:30].float()
    assert fill.max() - fill.min() > 10  # the flat fill became a gradient
    flat = DrawingStyle.flat_fill(torch.randint(0, 250, (3, 20, 20), dtype=torch.uint8))
    assert len(torch.unique(flat)) <= 8  # 3 bits a channel


def test_drawing_style_is_seeded_and_in_the_transform():
    from PIL import Image

    image = Image.fromarray(_drawing().permute(1, 2, 0).numpy())
    t = train_transform(create_backbone("tiny", weights="random").preprocessing, Augment(style=1.0))
    outs = []
    for _ in range(2):
        torch.manual_seed(11)
        outs.append(t(image))
    assert torch.equal(outs[0], outs[1])
    assert any(isinstance(step, DrawingStyle) for step in t.transforms)
    assert not any(isinstance(step, DrawingStyle) for step in train_transform(
        create_backbone("tiny", weights="random").preprocessing, Augment()).transforms)


def test_fit_softmax_separates_and_probe_sets_the_head(tmp_path):
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 8, generator=g) * 4
    y = torch.arange(60) % 3
    x = centres[y] + torch.randn(60, 8, generator=g) * 0.3
    w, b = fit_softmax(x, y, 3)
    assert w.shape == (3, 8) and ((x @ w.T + b).argmax(1) == y).all()

    rows = [json.loads(line) for line in manifest(tmp_path, n=9, bad=False).read_text().splitlines()]
    net = create_backbone("tiny", weights="random")
    net.replace_head([849, 879, 587])
    from training.data import LabelledImages

    targets = [[849, 879, 587].index(r["class_index"]) for r in rows]
    data = LabelledImages([r["filepath"] for r in rows], targets, lambda: net.preprocessing.transform(normalize=False))
    before = net.net[8].weight.detach().clone()
    accuracy = init_head_from_probe(net, data, torch.device("cpu"))
    assert not torch.equal(before, net.net[8].weight) and 0.0 <= accuracy <= 1.0


def test_drawings_recipe_fine_tunes_with_its_settings(tmp_path, caplog):
    recipe = RECIPES["drawings"]
    assert recipe.head_init == "probe" and recipe.label_smoothing > 0 and recipe.augment["style"] > 0
    net = create_backbone("efficientnet-lite0", weights="random")
    rows = apply_recipe(net, recipe)
    assert {r["action"] for r in rows if r["group"] == "low"} == {"freeze"}
    assert {r["action"] for r in rows if r["group"] == "high"} == {"keep"}

    m = manifest(tmp_path, n=12, bad=False)
    out = tmp_path / "run"
    args = finetune.get_args_parser().parse_args(
        ["--manifest", str(m), "--out", str(out), "--backbone", "tiny", "--weights", "random", "--recipe", "drawings",
         "--epochs", "1", "--batch-size", "4", "--device", "cpu", "--no-evaluate", "--no-tensorboard"])
    caplog.set_level("INFO")
    assert finetune.main(args) == 0
    saved = json.loads((out / "args.json").read_text())
    assert saved["head_init"] == "probe" and saved["label_smoothing"] == recipe.label_smoothing
    assert saved["augment"]["style"] == recipe.augment["style"]
    assert "linear probe: the new head fitted" in caplog.text
    # an explicit option beats the recipe's
    cfg = finetune.config_from_args(finetune.get_args_parser().parse_args(
        ["--recipe", "drawings", "--style", "0", "--label-smoothing", "0", "--head-init", "random"]))
    assert cfg.augment["style"] == 0 and cfg.label_smoothing == 0 and cfg.head_init == "random"


def test_finetune_holdout_style_leaves_the_style_out(tmp_path, capsys):
    m = manifest(tmp_path, n=12, bad=False)
    rows = [json.loads(line) for line in m.read_text().splitlines()]
    kept = finetune.holdout_rows(rows, "s1", str(m))
    assert kept and all(r["style"] == "s0" for r in kept) and len(kept) == sum(r["style"] == "s0" for r in rows)
    with pytest.raises(ValueError, match="no rows of style 'watercolour'.*s0, s1"):
        finetune.holdout_rows(rows, "watercolour", str(m))
    out = tmp_path / "run"
    args = finetune.get_args_parser().parse_args(
        ["--manifest", str(m), "--out", str(out), "--backbone", "tiny", "--weights", "random", "--recipe", "finetune",
         "--epochs", "1", "--batch-size", "4", "--device", "cpu", "--no-evaluate", "--no-tensorboard",
         "--holdout-style", "s1"])
    assert finetune.main(args) == 0
    saved = json.loads((out / "args.json").read_text())
    assert saved["holdout_style"] == "s1"
    assert Path(out / "best.pt").exists()
    # its features say which style it never saw; only that one may be held out from them
    from evaluation.classify.holdout import unseen_styles

    feats = tmp_path / "ft.h5"
    extract(ExtractConfig(manifest=m, out=feats, backbone="tiny", weights=str(out / "best.pt"), device="cpu"))
    fs = read_features(feats)
    assert fs.attrs["trained_without_style"] == "s1"
    assert unseen_styles(fs, ["s0", "s1"], []) == (["s1"], ["s0 (the fine-tune saw it)"])
    with pytest.raises(ValueError, match="saw every style but 's1'"):
        unseen_styles(fs, ["s0"], [])
    # joined with frozen features, the fine-tuned part still decides; a part that saw every style forbids all
    from evaluation.features import join_features

    frozen_path = tmp_path / "frozen.h5"
    extract(ExtractConfig(manifest=m, out=frozen_path, backbone="tiny", weights="random", device="cpu"))
    frozen = read_features(frozen_path)
    joined = join_features([frozen, fs], ["frozen.h5", "ft.h5"])
    assert unseen_styles(joined, ["s0", "s1"], []) == (["s1"], ["s0 (the fine-tune saw it)"])
    assert unseen_styles(join_features([frozen, frozen], ["a", "b"]), ["s0", "s1"], []) == (["s0", "s1"], [])
    fs.attrs["trained_without_style"] = ""
    with pytest.raises(ValueError, match="fine-tune with training.finetune --holdout-style S"):
        unseen_styles(fs, ["s1"], [])
    with pytest.raises(ValueError, match="fine-tune with training.finetune --holdout-style S"):
        unseen_styles(join_features([frozen, fs], ["frozen.h5", "ft.h5"]), ["s1"], [])


def test_joined_fine_tunes_must_have_left_out_the_same_style():
    import types

    from evaluation.classify.holdout import unseen_styles

    def parts(*styles):
        return types.SimpleNamespace(attrs={"parts": json.dumps(
            [{"backbone": "tiny", "fine_tuned": True, "adapted": False, "trained_without_style": s} for s in styles])})

    assert unseen_styles(parts("s1", "s1"), ["s0", "s1"], []) == (["s1"], ["s0 (the fine-tune saw it)"])
    with pytest.raises(ValueError, match="left out different styles \\('s1', 's2'\\)"):
        unseen_styles(parts("s1", "s2"), ["s0", "s1", "s2"], [])
