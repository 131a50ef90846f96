"""training.adapt: what the adapted backbone may train on, and the command end to end on the tiny backbone."""
from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import h5py
import pytest
from PIL import Image, ImageDraw

from datasets.manifest import read_manifest, write_jsonl
from evaluation import extract
from evaluation.classify.inputs import features_meta
from evaluation.features import is_adapted, is_fine_tuned, read_features
from training import adapt

CLASSES = [(849, "n04398044", "teapot", (220, 30, 30)), (879, "n04507155", "umbrella", (30, 170, 40)),
           (134, "n02012849", "crane", (30, 60, 220)), (1, "n01443537", "goldfish", (240, 160, 0))]


def draw(path: Path, colour, seed: int, size=(64, 48)) -> Path:
    rng = random.Random(seed)
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    for _ in range(3):  # a few shapes: distinct perceptual hashes
        w, h = rng.randint(8, 30), rng.randint(8, 24)
        x, y = rng.randint(0, size[0] - w), rng.randint(0, size[1] - h)
        (d.ellipse if rng.random() < 0.5 else d.rectangle)((x, y, x + w, y + h), fill=colour, outline="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def row(i: int, path: Path, cls, split: str, style: str) -> dict:
    index, wnid, label, _ = cls
    return {"id": f"img{i:03d}", "filepath": str(path), "original_name": path.name, "label": label, "wnid": wnid,
            "class_index": index, "split": split, "style": style, "source": "test", "matched_words": [label],
            "ambiguous": False}


@pytest.fixture
def library(tmp_path) -> Path:
    """4 classes: 3 of 14 rows, goldfish of 3 (2 train, 1 val); 2 styles; row 200 is row 3 (val) enlarged, row
    201 an unlabelled drawing."""
    rows = []
    for c, cls in enumerate(CLASSES):
        for k in range(14 if c < 3 else 3):
            i = c * 20 + k
            split = "val" if k % 5 == 3 or (c == 3 and k == 0) else "train"
            rows.append(row(i, draw(tmp_path / "img" / f"{i}.png", cls[3], i), cls, split, ("flat", "line")[k % 2]))
    val = next(r for r in rows if r["split"] == "val")
    copy = tmp_path / "img" / "copy.png"
    Image.open(val["filepath"]).resize((128, 96)).save(copy)
    rows.append({**row(200, copy, CLASSES[0], "train", "flat")})
    rows.append({**row(201, draw(tmp_path / "img" / "u.png", (0, 0, 0), 201), CLASSES[0], "train", "flat"),
                 "label": None, "wnid": None, "class_index": None})
    manifest = tmp_path / "library" / "manifest.jsonl"
    manifest.parent.mkdir()
    write_jsonl(manifest, rows)
    return manifest


def test_selection_keeps_val_excluded_and_their_near_copies_out(library, tmp_path):
    rows = read_manifest(library)
    user = tmp_path / "user.jsonl"
    write_jsonl(user, [r for r in rows if r["id"] in ("img000", "img021")])  # two train rows of the library
    sel = adapt.select(adapt.AdaptConfig(manifest=library, out=tmp_path / "run", exclude=[user]))
    ids = {r["id"] for r in sel.rows}
    val = {r["id"] for r in rows if r["split"] == "val"}
    assert not ids & val and not ids & {"img000", "img021"}
    assert "img200" not in ids  # the enlarged copy of a val drawing
    assert "img201" not in ids  # unlabelled
    assert all(r["wnid"] != "n01443537" for r in sel.rows)  # goldfish: 2 rows left, under --min-images 3
    c = sel.counts
    assert c["excluded_ids"] == len(val) + 2 and c["near_duplicates"] == 1 and c["small_class_rows"] == 2
    assert c["train"] + c["stop_val"] == len(sel.rows) and c["classes"] == 3
    per_class = Counter(r["wnid"] for r in sel.rows if r["split"] == "val")
    sizes = Counter(r["wnid"] for r in sel.rows)
    assert all(per_class[w] == int(n * 0.1 + 0.5) for w, n in sizes.items())


def test_selection_without_near_check_keeps_the_copy(library, tmp_path):
    sel = adapt.select(adapt.AdaptConfig(manifest=library, out=tmp_path / "run", phash_distance=-1))
    assert "img200" in {r["id"] for r in sel.rows} and sel.counts["near_duplicates"] == 0


def run_adapt(library: Path, out: Path, *extra: str) -> int:
    argv = ["--manifest", str(library), "--out", str(out), "--backbone", "tiny", "--stop-fraction", "0.25", *extra,
            "--", "--epochs", "2", "--batch-size", "8", "--workers", "0", "--device", "cpu", "--no-tensorboard"]
    return adapt.main(adapt.get_args_parser().parse_args(argv))


def test_adapt_trains_a_checkpoint_extract_reads_as_its_backbone(library, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_adapt(library, out) == 0
    record = json.loads((out / "adapt.json").read_text())
    assert record["recipe"] == "drawings" and record["counts"]["classes"] == 3
    trained = read_manifest(out / "adapt-manifest.jsonl")
    assert {r["id"] for r in trained}.isdisjoint(r["id"] for r in read_manifest(library) if r["split"] == "val")
    assert "--backbone " + str(out / "best.pt") in capsys.readouterr().out

    feats = tmp_path / "adapted.h5"
    code = extract.main(extract.get_args_parser().parse_args(
        ["--manifest", str(library), "--backbone", str(out / "best.pt"), "--out", str(feats), "--workers", "0",
         "--device", "cpu"]))
    assert code == 0
    with h5py.File(feats) as f:
        assert f.attrs["backbone"] == "tiny" and f.attrs["num_classes_head"] == 3
        attrs = dict(f.attrs)
    # trained on adapt-manifest.jsonl, extracted from the library's manifest: adapted, not fine-tuned on it
    assert Path(attrs["trained_on"]).name == "adapt-manifest.jsonl"
    assert is_fine_tuned(attrs) and is_adapted(attrs)
    assert not is_adapted({**attrs, "manifest": attrs["trained_on"]})
    assert features_meta(read_features(feats), feats)["adapted"] is True

    assert run_adapt(library, out) == 0  # the same command again: the finished run has nothing to do
    assert "nothing to do" in capsys.readouterr().out
    other = tmp_path / "other.jsonl"
    write_jsonl(other, read_manifest(library)[:3])
    assert run_adapt(library, out, "--exclude", str(other)) == 1  # another selection in the same folder
    assert "another selection" in capsys.readouterr().err


ADAPT_BAD = [  # (adapt's options, finetune's options after --, exit code, what the one line says)
    (["--stop-fraction", "1"], [], 2, "--stop-fraction must be between 0 and 1"),
    (["--min-images", "0"], [], 2, "--min-images must be at least 1"),
    (["--phash-distance", "65"], [], 2, "--phash-distance must be -1 (no check) to 64 bits"),
    ([], ["--backbone", "vgg19", "--seed", "3"], 2, "after --, leave out --backbone, --seed: training.adapt sets them"),
    ([], ["--epochs", "0"], 2, "--epochs must be at least 1"),
    ([], ["--device", "cuda:0"], 1, "--device cuda:0: no CUDA device on this machine; use --device cpu"),
    (["--holdout-style", "nosuch"], [], 1, "no rows of style 'nosuch' to hold out"),
    (["--exclude", "/nonexistent/user.jsonl"], [], 1, "/nonexistent/user.jsonl"),
]


@pytest.mark.parametrize("options,extra,code,says", ADAPT_BAD, ids=[" ".join(o + e) for o, e, _, _ in ADAPT_BAD])
def test_bad_input_writes_no_run_folder(library, tmp_path, monkeypatch, capsys, options, extra, code, says):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    argv = ["--manifest", str(library), "--out", str(out), "--backbone", "tiny", *options, "--", *extra]
    assert adapt.main(adapt.get_args_parser().parse_args(argv)) == code
    err = capsys.readouterr().err
    assert err.startswith("training.adapt: ") and says in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_exclude_takes_several_manifests(library, tmp_path):
    args = adapt.get_args_parser().parse_args(["--manifest", "m", "--out", "o", "--exclude", "a", "b",
                                               "--exclude", "c"])
    assert args.exclude == [Path("a"), Path("b"), Path("c")]


def test_extract_backbone_must_be_a_network_or_our_checkpoint(tmp_path, capsys):
    import torch

    from training.backbones import create_backbone

    plain = tmp_path / "plain.pt"
    torch.save(create_backbone("tiny").state_dict(), plain)
    for bad, says in ((tmp_path / "absent.pt", "neither a network"), (plain, "names no network")):
        argv = ["--manifest", "m.jsonl", "--backbone", str(bad), "--out", str(tmp_path / "f.h5")]
        assert extract.main(extract.get_args_parser().parse_args(argv)) == 2
        assert says in capsys.readouterr().err
    assert extract.backbone_and_weights("tiny", "w.pt") == ("tiny", "w.pt")
