"""training.compare: per-layer SSD of weights, on the tiny backbone."""
from __future__ import annotations

import csv
import json

import pytest
import torch
from PIL import Image

from training.backbones import create_backbone
from training.compare import get_args_parser, layer_ssd, main
from training.recipes import layers

# tiny: conv1 = net.0 (8x3x3x3 + 8), conv2 = net.2, fc = net.6, head = net.8
CONV2_DELTA, CONV2_BIAS_DELTA = 0.5, -0.25


def tiny(head: list[int] | None = None, perturb: bool = False):
    backbone = create_backbone("tiny", weights="random")
    if head is not None:
        backbone.replace_head(head)
    if perturb:
        with torch.no_grad():
            backbone.net[2].weight[0, 0, 0, 0] += CONV2_DELTA
            backbone.net[2].bias[3] += CONV2_BIAS_DELTA
    return backbone


def save(backbone, path, backbone_name="tiny", weights=None):
    """As training.finetune writes them (less the optimizer and the history)."""
    torch.save({"format": "drawnet-finetune/1", "model": backbone.state_dict(), "epoch": 3, "recipe": "finetune",
                "args": {"backbone": backbone_name, "recipe": "finetune", "weights": weights}}, path)
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(get_args_parser().parse_args([str(a) for a in argv]))
    out, err = capsys.readouterr()
    return code, out, err


def by_layer(rows):
    return {r["layer"]: r for r in rows}


def test_ssd_matches_hand_computation():
    a, b = tiny(), tiny(perturb=True)
    names = {n for n, _ in a.net.named_parameters()}
    rows = by_layer(layer_ssd(a.net.state_dict(), b.net.state_dict(), layers(a), names))
    assert list(rows) == ["conv1", "conv2", "fc", "head"]
    assert rows["conv2"]["ssd"] == pytest.approx(CONV2_DELTA**2 + CONV2_BIAS_DELTA**2, rel=1e-6)
    assert rows["conv2"]["params"] == 16 * 8 * 3 * 3 + 16
    assert rows["conv2"]["ssd_per_param"] == pytest.approx(rows["conv2"]["ssd"] / rows["conv2"]["params"])
    assert [rows[k]["ssd"] for k in ("conv1", "fc", "head")] == [0.0, 0.0, 0.0]
    assert rows["head"]["group"] == "head" and "note" not in rows["head"]


def test_replaced_head_has_no_ssd():
    a, b = tiny(), tiny(head=[1, 2, 3], perturb=True)
    rows = by_layer(layer_ssd(a.net.state_dict(), b.net.state_dict(), layers(a)))
    assert rows["head"]["ssd"] is None and rows["head"]["ssd_per_param"] is None
    assert rows["head"]["note"] == "shapes differ (8.weight: 1000x32 vs 3x32)"
    assert rows["conv2"]["ssd"] == pytest.approx(CONV2_DELTA**2 + CONV2_BIAS_DELTA**2, rel=1e-6)
    assert rows["conv1"]["ssd"] == 0.0 and rows["fc"]["ssd"] == 0.0


def test_cli_writes_table_csv_json_png(tmp_path, capsys):
    a = save(tiny(), tmp_path / "a.pt")
    b = save(tiny(perturb=True), tmp_path / "b.pt")
    code, out, err = run(capsys, "--a", a, "--b", b)  # --out defaults to --a's folder
    assert code == 0, err
    assert "a.pt (epoch 3) vs b.pt (epoch 3)" in out
    assert out.splitlines()[1].split() == ["layer", "group", "params", "SSD", "SSD/param"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "b.pt", "weight_ssd.csv", "weight_ssd.json",
                                                          "weight_ssd.png"]  # no temporary files left
    result = json.loads((tmp_path / "weight_ssd.json").read_text())
    assert result["backbone"] == "tiny" and result["b"] == str(b)
    assert result["total_ssd"] == pytest.approx(CONV2_DELTA**2 + CONV2_BIAS_DELTA**2, rel=1e-6)
    with open(tmp_path / "weight_ssd.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["layer"] for r in table] == ["conv1", "conv2", "fc", "head"]
    assert float(table[1]["ssd"]) == pytest.approx(result["layers"][1]["ssd"])
    with Image.open(tmp_path / "weight_ssd.png") as png:
        assert png.format == "PNG" and png.width > 300 and png.height > 200
        assert len(png.convert("L").getcolors(1 << 16)) > 10  # bars, text, not a blank canvas


def test_cli_without_b_compares_with_pretrained(tmp_path, capsys):
    """tiny's "pretrained" default is its seeded random init; a fine-tuned head cannot be compared."""
    a = save(tiny(head=[1, 2, 3], perturb=True), tmp_path / "ft.pt")
    code, out, err = run(capsys, "--a", a, "--out", tmp_path / "out")
    assert code == 0, err
    assert "pretrained (random(seed=0))" in out
    rows = by_layer(json.loads((tmp_path / "out" / "weight_ssd.json").read_text())["layers"])
    assert rows["conv2"]["ssd"] == pytest.approx(CONV2_DELTA**2 + CONV2_BIAS_DELTA**2, rel=1e-6)
    assert rows["conv1"]["ssd"] == 0.0 and rows["fc"]["ssd"] == 0.0
    assert rows["head"]["ssd"] is None and rows["head"]["note"].startswith("shapes differ")
    assert (tmp_path / "out" / "weight_ssd.png").stat().st_size > 1000


def test_cli_without_b_compares_with_the_runs_weights_file(tmp_path, capsys):
    """A run fine-tuned from a file (--weights PATH, as VGG-19 is offline) is compared with that file."""
    start = tmp_path / "start.pt"
    torch.save(tiny(perturb=True).net.state_dict(), start)
    a = save(tiny(), tmp_path / "ft.pt", weights=str(start))
    code, out, err = run(capsys, "--a", a)
    assert code == 0, err
    assert "ft.pt (epoch 3) vs start.pt" in out
    rows = by_layer(json.loads((tmp_path / "weight_ssd.json").read_text())["layers"])
    assert rows["conv2"]["ssd"] == pytest.approx(CONV2_DELTA**2 + CONV2_BIAS_DELTA**2, rel=1e-6)


def test_plain_state_dict_needs_backbone(tmp_path, capsys):
    plain = tmp_path / "plain.pt"
    torch.save(tiny(perturb=True).net.state_dict(), plain)
    code, _, err = run(capsys, "--a", plain, "--out", tmp_path)
    assert code == 1 and str(plain) in err and "--backbone" in err
    code, out, err = run(capsys, "--a", plain, "--backbone", "tiny", "--out", tmp_path)
    assert code == 0, err
    assert "conv2" in out


def test_truncated_or_missing_checkpoint_exits_1(tmp_path, capsys):
    good = save(tiny(), tmp_path / "good.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for argv in (["--a", broken], ["--a", good, "--b", broken], ["--a", tmp_path / "missing.pt"]):
        code, _, err = run(capsys, *argv, "--out", tmp_path / "out")
        assert code == 1
        assert str(argv[-1]) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_mismatched_backbones_exit_1(tmp_path, capsys):
    a = save(tiny(), tmp_path / "a.pt")
    named_other = save(tiny(), tmp_path / "lite.pt", backbone_name="efficientnet-lite0")
    other_net = tmp_path / "other.pt"
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)).state_dict(), other_net)
    for b, words in ((named_other, "backbone mismatch"), (other_net, "missing")):
        code, _, err = run(capsys, "--a", a, "--b", b, "--out", tmp_path / "out")
        assert code == 1
        assert str(b) in err and words in err and len(err.strip().splitlines()) == 1


def test_diverged_weights_have_no_ssd():
    a, b = tiny(), tiny()
    with torch.no_grad():
        b.net[6].weight[0, 0] = float("nan")
    rows = by_layer(layer_ssd(a.net.state_dict(), b.net.state_dict(), layers(a)))
    assert rows["fc"]["ssd"] is None and rows["fc"]["note"].startswith("not finite")
    assert rows["conv1"]["ssd"] == 0.0
