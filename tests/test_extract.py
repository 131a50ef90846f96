"""Backbones, image loading, feature extraction to HDF5 and the pretrained baseline."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from datasets.manifest import write_jsonl
from evaluation import baseline as baseline_cli
from evaluation.baseline import baseline
from evaluation.extract import ExtractConfig, extract, partial_path, rejected_path
from evaluation.extract import get_args_parser as extract_args
from evaluation.extract import main as extract_main
from evaluation.features import FeatureSet, read_features
from evaluation.metrics import cross_entropy, evaluate, topk, true_rank
from evaluation.results import read_metrics, read_predictions
from tests.conftest import extract_manifest, make_image
from training.backbones import WeightsUnavailable, create_backbone
from training.images import load_rgb

def manifest(tmp_path: Path, n: int = 9, bad: bool = True) -> Path:
    return extract_manifest(tmp_path, n, broken=bad, size=(40, 30))


def test_load_rgb_handles_every_mode(tmp_path):
    clear = Image.new("RGBA", (8, 6), (255, 0, 0, 0))
    clear.putpixel((0, 0), (0, 0, 255, 255))
    cases = {"rgba.png": clear, "la.png": clear.convert("LA"), "p.png": clear.convert("P"),
             "cmyk.jpg": Image.new("CMYK", (8, 6), (0, 255, 255, 0)), "grey.png": Image.new("L", (8, 6), 90),
             "bits.png": Image.new("1", (8, 6), 1), "i16.png": Image.fromarray(np.arange(48, dtype=np.uint16).reshape(6, 8) * 1000)}
    for name, img in cases.items():
        img.save(tmp_path / name)
    frames = [Image.new("RGB", (8, 6), c) for c in ((0, 200, 0), (200, 0, 0))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    for name in [*cases, "anim.gif"]:
        rgb = load_rgb(tmp_path / name)
        assert rgb.mode == "RGB" and rgb.size == (8, 6), name
    assert load_rgb(tmp_path / "rgba.png").getpixel((3, 3)) == (255, 255, 255)  # transparent -> white
    assert load_rgb(tmp_path / "rgba.png").getpixel((0, 0)) == (0, 0, 255)
    assert load_rgb(tmp_path / "la.png").getpixel((3, 3)) == (255, 255, 255)
    assert load_rgb(tmp_path / "anim.gif").getpixel((1, 1))[1] > 150  # the first frame, green
    i16 = load_rgb(tmp_path / "i16.png")
    assert i16.getpixel((0, 0)) == (0, 0, 0) and i16.getpixel((7, 5)) == (255, 255, 255)  # range scaled, not clipped
    assert load_rgb(tmp_path / "cmyk.jpg").getpixel((4, 3))[0] > 200  # no cyan: red


def test_backbones_layers_and_weights(tmp_path):
    tiny = create_backbone("tiny")
    feats, logits = tiny(torch.randn(2, 3, 32, 32))
    assert feats.shape == (2, 32) and logits.shape == (2, 1000) and tiny.preprocessing.size == 32
    torch.save({"model": tiny.state_dict(), "epoch": 3}, tmp_path / "ckpt.pth")  # a checkpoint of ours
    again = create_backbone("tiny", weights=str(tmp_path / "ckpt.pth"))
    assert torch.equal(again(torch.ones(1, 3, 32, 32))[1], tiny(torch.ones(1, 3, 32, 32))[1])
    with pytest.raises(WeightsUnavailable, match="no such file"):
        create_backbone("tiny", weights=str(tmp_path / "absent.pth"))
    with pytest.raises(ValueError, match="no layer 'fc9'"):
        create_backbone("vgg19", "fc9", weights="random")
    lite = create_backbone("efficientnet-lite0")
    assert lite.feature_dim == 1280 and len(lite.weights_sha256) == 64 and lite.preprocessing.mean[0] == pytest.approx(127 / 255)


@pytest.mark.slow
def test_vgg19_named_layers():
    vgg = create_backbone("vgg19", "fc7", weights="random")
    with torch.no_grad():
        fc7, logits = vgg(torch.randn(1, 3, 224, 224))
        pre, _ = create_backbone("vgg19", "fc7_pre", weights="random")(torch.randn(1, 3, 224, 224))
    assert fc7.shape == (1, 4096) and logits.shape == (1, 1000) and (fc7 >= 0).all()  # after the ReLU
    assert (pre < 0).any()  # before it


def test_vgg19_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    from torchvision.models import VGG19_Weights

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(self, *a, **k):
        raise OSError("Name or service not known")

    monkeypatch.setattr(type(VGG19_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    with pytest.raises(WeightsUnavailable) as err:
        create_backbone("vgg19")
    msg = str(err.value)
    assert str(tmp_path / "hub" / "checkpoints") in msg and "vgg19-dcbb9e9d.pth" in msg and "--weights PATH" in msg


def test_extract_round_trip_skips_bad_images(tmp_path):
    m = manifest(tmp_path)
    out = tmp_path / "feats.h5"
    summary = extract(ExtractConfig(manifest=m, out=out, backbone="tiny", batch_size=4, workers=0))
    assert summary["complete"] and summary["images"] == 9 and summary["bad_images"] == 1 and summary["rows"] == 10
    fs = read_features(out)
    assert fs.features.shape == (10, 32) and fs.logits.shape == (10, 1000)
    assert list(fs.labels[:3]) == [849, 879, 587] and fs.splits[0] == "val" and fs.styles[1] == "s1"
    assert fs.ids[9] == fs.ids[0] and np.array_equal(fs.features[9], fs.features[0])  # two rows, one image
    assert fs.attrs["backbone"] == "tiny" and fs.attrs["preprocessing"]["size"] == 32 and fs.attrs["bad_images"] == 1
    (bad,) = [json.loads(line) for line in rejected_path(out).read_text().splitlines()]
    assert bad["filepath"].endswith("broken.png") and bad["reason"]
    # the stored features are the backbone's, image for image
    tiny = create_backbone("tiny")
    x = tiny.preprocessing.transform()(load_rgb(tmp_path / "img" / "umbrella1.png"))[None]
    with torch.no_grad():
        feats, logits = tiny(x)
    assert np.allclose(fs.features[1], feats[0].numpy(), atol=1e-5) and np.allclose(fs.logits[1], logits[0].numpy(), atol=1e-4)
    assert not partial_path(out).exists() and not list(tmp_path.glob(".*tmp"))


def test_extract_resumes_after_an_interruption(tmp_path):
    m = manifest(tmp_path, bad=False)
    out = tmp_path / "feats.h5"
    # shards of 4 images, 2 batches each: stopping after 3 batches leaves one shard, the half-done one is lost
    first = extract(ExtractConfig(manifest=m, out=out, backbone="tiny", batch_size=2, shard_size=4, workers=0,
                                  stop_after=3))
    assert not first["complete"] and first["processed"] == 6
    assert partial_path(out).exists() and not out.exists()  # nothing half-written where the result goes
    (shard,) = partial_path(out).glob("*/shard-*.npz")
    with np.load(shard) as z:
        assert z["done"].sum() == 4 and (int(z["start"]), int(z["stop"])) == (0, 4)
    second = extract(ExtractConfig(manifest=m, out=out, backbone="tiny", batch_size=2, shard_size=4, workers=0))
    assert second["complete"] and second["processed_now"] == 5  # only what was left
    assert not partial_path(out).exists()
    oneshot = tmp_path / "oneshot.h5"
    extract(ExtractConfig(manifest=m, out=oneshot, backbone="tiny", batch_size=2, shard_size=4, workers=0))
    assert np.array_equal(read_features(out).features, read_features(oneshot).features)
    assert np.array_equal(read_features(out).logits, read_features(oneshot).logits)
    other = tmp_path / "other-batches.h5"  # other batches: the same up to float rounding
    extract(ExtractConfig(manifest=m, out=other, backbone="tiny", batch_size=3, workers=0))
    assert np.allclose(read_features(out).features, read_features(other).features, atol=1e-6)
    # a partial file of another job (other weights) is not reused
    extract(ExtractConfig(manifest=m, out=out, backbone="tiny", batch_size=2, workers=0, stop_after=1))
    torch.save(create_backbone("tiny").state_dict(), tmp_path / "w.pth")
    third = extract(ExtractConfig(manifest=m, out=out, backbone="tiny", weights=str(tmp_path / "w.pth"), workers=0))
    assert third["processed_now"] == 9


def assert_refused(main, parser, argv: list, capsys, root: Path, code: int, says: str) -> str:
    """``main`` exits ``code`` on ``argv`` with one line on stderr that says ``says``, and writes nothing under
    ``root``; the line, for more checks."""
    before = sorted(root.rglob("*"))
    capsys.readouterr()
    assert main(parser.parse_args([str(a) for a in argv])) == code, argv
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err, (argv, err)
    assert sorted(root.rglob("*")) == before, f"{argv} wrote files"
    return err


def assert_parser_refuses(parser, argv: list, capsys, says: str) -> None:
    """argparse itself refuses ``argv`` (an unknown choice, not a number): exit 2, its error line last."""
    with pytest.raises(SystemExit) as done:
        parser.parse_args([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert done.value.code == 2 and says in err.splitlines()[-1], err


def test_extract_refuses_bad_options_before_writing(tmp_path, capsys, monkeypatch):
    m = manifest(tmp_path, n=3)
    out = tmp_path / "x" / "f.h5"
    base = ["--manifest", m, "--backbone", "tiny", "--out", out]
    plain = tmp_path / "plain.pt"
    torch.save(create_backbone("tiny").state_dict(), plain)
    usage = [  # bad usage: exit 2
        (["--device", "gpu"], "--device gpu: not a device; use auto, cpu, cuda or cuda:N"),
        (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["--shard-size", "0"], "--shard-size must be at least 1, got 0"),
        (["--workers", "-1"], "--workers must be at least 0, got -1"),
        (["--layer", "fc7"], "--layer fc7: tiny has no such layer; choose from fc"),
        (["--backbone", "resnet50"], "--backbone resnet50: neither a network"),
        (["--backbone", plain], "names no network"),
        (["--backbone", plain, "--weights", plain], "give its weights there or in --weights, not both"),
        (["--out", tmp_path], "is a folder: give the features file to write"),
        (["--out", m], "is an input: choose another file"),
    ]
    for extra, says in usage:
        err = assert_refused(extract_main, extract_args(), [*base, *extra], capsys, tmp_path, 2, says)
        assert err.startswith("evaluation.extract: error: ")
    for extra, says in ((["--amp", "fp32"], "invalid choice: 'fp32'"), (["--tta", "mirror"], "invalid choice"),
                        (["--normalize", "z"], "invalid choice"), (["--batch-size", "many"], "invalid int value")):
        assert_parser_refuses(extract_args(), [*base, *extra], capsys, says)
    failures = [  # the work cannot be done: exit 1
        (["--manifest", tmp_path / "none.jsonl"], f"--manifest {tmp_path / 'none.jsonl'}: no such file"),
        (["--weights", tmp_path / "absent.pt"], "absent.pt: no such file"),
        (["--reuse", tmp_path / "absent.h5"], f"--reuse {tmp_path / 'absent.h5'}: no such file"),
    ]
    for extra, says in failures:
        assert_refused(extract_main, extract_args(), [*base, *extra], capsys, tmp_path, 1, says)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same on a machine with a GPU
    for device in ("cuda", "cuda:1"):
        err = assert_refused(extract_main, extract_args(), [*base, "--device", device], capsys, tmp_path, 1,
                             "no CUDA device on this machine; use --device cpu")
        assert err == f"evaluation.extract: --device {device}: no CUDA device on this machine; use --device cpu"


def test_extract_amp_modes(tmp_path):
    """--amp as training.finetune's: auto is off on the CPU (exact float32), fp16 and bf16 autocast there too."""
    m = manifest(tmp_path, n=3, bad=False)
    runs = {}
    for amp in ("auto", "off", "bf16"):
        out = tmp_path / f"{amp}.h5"
        extract(ExtractConfig(manifest=m, out=out, backbone="tiny", workers=0, device="cpu", amp=amp))
        runs[amp] = read_features(out)
    assert [runs[a].attrs["autocast"] for a in runs] == ["off", "off", "bfloat16"]
    assert np.array_equal(runs["auto"].features, runs["off"].features)
    assert not np.array_equal(runs["bf16"].features, runs["off"].features)
    assert np.allclose(runs["bf16"].features, runs["off"].features, atol=0.05, rtol=0.05)


def test_metrics_against_hand_computed_values():
    scores = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0], [1.0, 1.0, 1.0]])
    targets = np.array([2, 1, 0])
    assert list(true_rank(scores, targets)) == [1, 0, 0]  # a tie counts for the model
    assert topk(scores, 2).tolist() == [[0, 2], [1, 2], [0, 1]]
    # -log softmax: row 0 = log(e^3 + e + e^2) - 2
    expected = [np.log(np.exp(3) + np.exp(1) + np.exp(2)) - 2, np.log(1 + np.exp(5) + np.e) - 5, np.log(3.0)]
    assert np.allclose(cross_entropy(scores, targets), expected)
    assert np.allclose(cross_entropy(np.array([[1000.0, 0.0]]), np.array([1])), [1000.0])  # stable
    m = evaluate(scores, targets, cross_entropies=cross_entropy(scores, targets), groups={"per_class": np.array(["a", "b", "a"])})
    assert m["global"]["top1"] == pytest.approx(2 / 3) and m["global"]["top5"] == 1.0
    assert m["per_class"]["a"] == {"n": 2, "top1": 0.5, "top5": 1.0, "cross_entropy": pytest.approx((expected[0] + expected[2]) / 2)}


def test_baseline_metrics_and_cli(tmp_path, capsys):
    logits = np.full((4, 1000), -5.0, dtype=np.float32)
    logits[0, 849] = 5  # right
    logits[1, 587] = 5  # wrong: true is 879, ranked below 587 only
    logits[1, 879] = 4
    logits[2, 10:16] = 6  # true 587 ranked 7th
    logits[3, 879] = 5  # right
    fs = FeatureSet(np.zeros((4, 2), np.float32), np.array([849, 879, 587, 879]), np.array(list("abcd"), dtype=object),
                    np.array(["val", "val", "val", "train"], dtype=object), logits=logits,
                    wnids=np.array(["n04398044", "n04507155", "n03481172", "n04507155"], dtype=object),
                    styles=np.array(["x", "y", "x", "y"], dtype=object), attrs={"backbone": "tiny", "subset": "toy"})
    metrics, preds = baseline(fs)
    val = metrics["val"]
    assert val["global"]["top1"] == pytest.approx(1 / 3) and val["global"]["top5"] == pytest.approx(2 / 3)
    assert val["per_class"]["n04507155"]["top5"] == 1.0 and val["per_style"]["x"]["top1"] == 0.5
    assert metrics["all"]["global"]["n"] == 4 and metrics["train"]["global"]["top1"] == 1.0
    assert preds["true_rank"].tolist() == [0, 1, 6, 0] and preds["pred"].tolist()[:2] == [849, 587]
    from evaluation.features import write_features

    write_features(tmp_path / "f.h5", fs)
    assert baseline_cli.main(baseline_cli.get_args_parser().parse_args(["--features", str(tmp_path / "f.h5"),
                                                                        "--out", str(tmp_path / "res")])) == 0
    stored = read_metrics(tmp_path / "res")
    assert stored["meta"]["subset"] == "toy" and stored["methods"]["baseline"]["val"]["global"]["n"] == 3
    assert read_predictions(tmp_path / "res", "baseline")["top5"].shape == (4, 5)
    assert "top-1  33.3%" in capsys.readouterr().out
    no_head = FeatureSet(fs.features, fs.labels, fs.ids, fs.splits, attrs={"backbone": "x"})
    write_features(tmp_path / "g.h5", no_head)
    parser = baseline_cli.get_args_parser()
    assert_refused(baseline_cli.main, parser, ["--features", tmp_path / "g.h5", "--out", tmp_path / "r2"], capsys,
                   tmp_path, 1, "no 1000-way ImageNet head")
    assert_refused(baseline_cli.main, parser, ["--features", tmp_path / "none.h5", "--out", tmp_path / "r3"], capsys,
                   tmp_path, 1, "none.h5")
    assert_refused(baseline_cli.main, parser, ["--features", tmp_path / "f.h5", "--out", tmp_path / "f.h5"], capsys,
                   tmp_path, 2, f"--out {tmp_path / 'f.h5'} is a file, not a folder")


def test_head_cli_and_its_bad_inputs(tmp_path, capsys):
    from evaluation import head as head_cli
    from evaluation.features import write_features

    logits = np.full((4, 1000), -9.0, dtype=np.float32)
    logits[:, [849, 879]] = [[3, 1], [1, 3], [0, 2], [2, 0]]  # the head's two classes: 3 of 4 right
    fs = FeatureSet(np.zeros((4, 2), np.float32), np.array([849, 879, 849, 849]), np.array(list("abcd"), dtype=object),
                    np.array(["val", "val", "val", "train"], dtype=object), logits=logits,
                    attrs={"backbone": "tiny", "head_classes": json.dumps([879, 849])})
    write_features(tmp_path / "f.h5", fs)
    write_features(tmp_path / "plain.h5", FeatureSet(fs.features, fs.labels, fs.ids, fs.splits, logits=logits))
    parser = head_cli.get_args_parser()
    assert head_cli.main(parser.parse_args(["--features", str(tmp_path / "f.h5"), "--out", str(tmp_path / "r")])) == 0
    assert read_metrics(tmp_path / "r")["methods"]["head"]["val"]["global"]["top1"] == pytest.approx(2 / 3)
    base = ["--features", tmp_path / "f.h5", "--out", tmp_path / "r2"]
    for extra, says in ((["--method", "svm"], "--method svm holds evaluation.svm's results: choose another name"),
                        (["--method", "a/b"], "--method 'a/b': use letters, digits and _ . + - only"),
                        (["--method", ""], "--method '': use letters"),
                        (["--out", tmp_path / "f.h5"], "is a file, not a folder")):
        assert_refused(head_cli.main, parser, [*base, *extra], capsys, tmp_path, 2, says)
    assert_refused(head_cli.main, parser, ["--features", tmp_path / "plain.h5", "--out", tmp_path / "r3"], capsys,
                   tmp_path, 1, "not extracted from a fine-tuned head")
    assert_refused(head_cli.main, parser, ["--features", tmp_path / "none.h5", "--out", tmp_path / "r3"], capsys,
                   tmp_path, 1, "none.h5")


def test_extract_lists_every_kind_of_bad_image(tmp_path):
    m = manifest(tmp_path, n=3, bad=False)
    rows = [json.loads(line) for line in m.read_text().splitlines()]
    good = make_image(tmp_path / "img" / "good.png", seed=7)
    truncated = tmp_path / "img" / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    (tmp_path / "img" / "empty.png").write_bytes(b"")
    (tmp_path / "img" / "text.png").write_text("not an image at all")
    bad = {"truncated.png": truncated, "empty.png": tmp_path / "img" / "empty.png",
           "text.png": tmp_path / "img" / "text.png", "missing.png": tmp_path / "img" / "missing.png"}
    for k, (name, path) in enumerate(bad.items()):
        rows.append({**rows[1], "id": f"{k + 1:x}" * 64, "filepath": str(path), "original_name": name})
    write_jsonl(m, rows)
    out = tmp_path / "feats.h5"
    summary = extract(ExtractConfig(manifest=m, out=out, backbone="tiny", batch_size=2, workers=0))
    assert summary["complete"] and summary["images"] == 3 and summary["bad_images"] == 4
    rejected = {Path(r["filepath"]).name: r["reason"] for r in map(json.loads, rejected_path(out).read_text().splitlines())}
    assert set(rejected) == set(bad) and all(rejected.values())
    assert "No such file" in rejected["missing.png"] or "FileNotFoundError" in rejected["missing.png"]
    assert len(read_features(out)) == 4  # 3 images, one of them in two classes


def test_unlabelled_rows_are_extracted_and_the_baseline_ignores_them(tmp_path, caplog):
    from evaluation.features import UNLABELLED, join_features, labelled_rows

    m = manifest(tmp_path, n=6, bad=False)
    rows = [json.loads(line) for line in m.read_text().splitlines()]
    for k in range(2):  # datasets.build --keep-unmatched: a file whose name matched no class
        path = make_image(tmp_path / "img" / f"mystery{k}.png", seed=50 + k)
        rows.append({"id": f"{k + 1:x}" * 64, "filepath": str(path), "original_name": path.name, "label": None,
                     "wnid": None, "class_index": None, "matched_words": [], "ambiguous": False, "candidates": [],
                     "split": ("train", "val")[k], "source": "dir", "style": "s0"})
    write_jsonl(m, rows)
    out = tmp_path / "feats.h5"
    assert extract(ExtractConfig(manifest=m, out=out, backbone="tiny", batch_size=4, workers=0))["rows"] == 9
    fs = read_features(out)
    assert fs.labels.tolist()[-2:] == [UNLABELLED, UNLABELLED] and fs.labelled.tolist() == [True] * 7 + [False] * 2
    assert fs.wnids.tolist()[-2:] == ["", ""] and fs.label_names.tolist()[-2:] == ["", ""]
    assert fs.splits.tolist()[-2:] == ["train", "val"] and fs.filepaths[-1].endswith("mystery1.png")
    known, dropped = labelled_rows(fs)
    assert dropped == 2 and len(known) == 7 and (known.labels >= 0).all()
    assert labelled_rows(known) == (known, 0)
    reordered = fs.subset(np.arange(len(fs))[::-1])
    joined = join_features([fs, reordered], ["a", "b"])  # rows keyed (id, -1) match like any other
    assert joined.features.shape == (9, 64) and np.array_equal(joined.features[:, 32:], fs.features)

    with caplog.at_level("INFO", logger="evaluation.baseline"):
        assert baseline_cli.main(baseline_cli.get_args_parser().parse_args(
            ["--features", str(out), "--out", str(tmp_path / "res")])) == 0
    assert "ignored 2 unlabelled rows (no class; python -m evaluation.suggest proposes labels for them)" in caplog.text
    stored = read_metrics(tmp_path / "res")
    assert stored["meta"]["unlabelled_rows_ignored"] == 2
    assert stored["methods"]["baseline"]["all"]["global"]["n"] == 7
    assert len(read_predictions(tmp_path / "res", "baseline")["ids"]) == 7


def test_reuse_copies_known_images_and_extracts_the_rest(tmp_path, capsys):
    from datasets.manifest import read_manifest

    manifest = extract_manifest(tmp_path / "all", 8, broken=False)
    full = tmp_path / "all.h5"
    extract(ExtractConfig(manifest=manifest, out=full, backbone="tiny", batch_size=4, workers=0, device="cpu"))
    rows = read_manifest(manifest)
    extra = make_image(tmp_path / "new" / "extra.png", seed=99)
    sub = [rows[1], rows[2], {**rows[3], "label": None, "wnid": None, "class_index": None},  # relabelled: unlabelled
           {**rows[4], "id": "e" * 64, "filepath": str(extra), "original_name": "extra.png"}]
    write_jsonl(tmp_path / "sub" / "manifest.jsonl", sub)
    args = ["--manifest", str(tmp_path / "sub" / "manifest.jsonl"), "--backbone", "tiny", "--device", "cpu",
            "--batch-size", "4", "--workers", "0"]
    assert extract_main(extract_args().parse_args([*args, "--out", str(tmp_path / "sub.h5"), "--reuse", str(full)])) == 0
    assert "3 images reused" in capsys.readouterr().out
    assert extract_main(extract_args().parse_args([*args, "--out", str(tmp_path / "fresh.h5")])) == 0
    reused, fresh = read_features(tmp_path / "sub.h5"), read_features(tmp_path / "fresh.h5")
    assert reused.ids.tolist() == fresh.ids.tolist() and reused.labels.tolist() == fresh.labels.tolist()
    assert reused.labels[2] == -1, "labels come from the new manifest"
    np.testing.assert_allclose(reused.features, fresh.features, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(reused.logits, fresh.logits, rtol=1e-4, atol=1e-4)
    assert not any(p.name.startswith(".sub.h5") for p in tmp_path.iterdir()), "the extraction of the rest is cleaned up"
    # an image that cannot be read is listed with the reason its extraction gave
    bad = tmp_path / "new" / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    write_jsonl(tmp_path / "sub" / "manifest.jsonl", [*sub, {**rows[5], "id": "d" * 64, "filepath": str(bad)}])
    assert extract_main(extract_args().parse_args([*args, "--out", str(tmp_path / "sub.h5"), "--reuse", str(full)])) == 0
    (listed,) = [json.loads(line) for line in rejected_path(tmp_path / "sub.h5").read_text().splitlines()]
    assert listed["id"] == "d" * 64 and listed["reason"] != "not extracted", listed
    assert len(read_features(tmp_path / "sub.h5")) == 4
    capsys.readouterr()
    # features of another network are refused, naming what differs
    assert extract_main(extract_args().parse_args([*args, "--out", str(tmp_path / "x.h5"), "--reuse", str(full),
                                                   "--tta", "flip"])) == 1
    assert "its tta is 'none'" in capsys.readouterr().err and not (tmp_path / "x.h5").exists()
