"""training.finetune on the tiny backbone: recipes, frozen layers, kill -9 and resume, early stopping, DDP on CPU."""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from datasets.manifest import write_jsonl
from training import checkpoint
from training.backbones import IMAGENET_FLOOR, create_backbone
from training.data import EpochSampler
from training.finetune import build_model, config_from_args, get_args_parser, main
from training.recipes import RECIPES, apply_recipe, layers, param_groups

ROOT = Path(__file__).resolve().parents[1]
# (ILSVRC index, wnid, label, colour): the class is the colour of the box, which a tiny net learns in a few epochs
CLASSES = [(849, "n04398044", "teapot", (220, 30, 30)), (879, "n04507155", "umbrella", (30, 170, 40)),
           (134, "n02012849", "crane", (30, 60, 220))]
N_TRAIN, N_VAL = 24, 12  # train divisible by 8: no padded or partial batches at batch 8 (or 2 x 4)
# tiny's layers: conv1 = net.0 (low), conv2 = net.2 (high), fc = net.6 (classifier), head = net.8
GROUP_PREFIX = {"low": "net.0.", "high": "net.2.", "classifier": "net.6.", "head": "net.8."}
TIMING_KEYS = {"epoch_s", "images_per_s", "peak_gpu_gib"}


def make_dataset(root: Path, n_train: int = N_TRAIN, n_val: int = N_VAL, val_shift: int = 0) -> Path:
    """``val_shift``: val images labelled as the next class, so the validation loss rises as the net learns."""
    rows = []
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            colour = CLASSES[i % len(CLASSES)][3]
            index, wnid, label, _ = CLASSES[(i + (val_shift if split == "val" else 0)) % len(CLASSES)]
            rng = random.Random(f"{split}-{i}")
            img = Image.new("RGB", (64, 48), "white")
            w, h = rng.randint(24, 40), rng.randint(20, 32)
            x, y = rng.randint(0, 64 - w), rng.randint(0, 48 - h)
            ImageDraw.Draw(img).rectangle((x, y, x + w, y + h), fill=colour, outline="black")
            path = root / "img" / f"{split}-{i:03d}-{label}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            img.save(path)
            rows.append({"id": f"{split}{i:03d}", "filepath": str(path), "original_name": path.name, "label": label,
                         "wnid": wnid, "class_index": index, "split": split, "matched_words": [label],
                         "ambiguous": False, "source": "test"})
    manifest = root / "manifest.jsonl"
    write_jsonl(manifest, rows)
    return manifest


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("finetune-data"))


def finetune(*argv) -> int:
    """The CLI, in this process."""
    return main(get_args_parser().parse_args([str(a) for a in argv]))


def quick(manifest: Path, out: Path, *extra) -> list:
    # --device cpu: on a machine with a GPU, "auto" would train there, where kernels need not be deterministic
    return ["--manifest", manifest, "--out", out, "--backbone", "tiny", "--batch-size", 8, "--workers", 0,
            "--device", "cpu", "--no-tensorboard", "--no-evaluate", *extra]


def read_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def metrics(log: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in log]


def model_state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def subprocess_env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    return env


@pytest.fixture(scope="module")
def trained_run(manifest, tmp_path_factory):
    """optimal recipe with one rate overridden, trained until it classifies the boxes, then --extract."""
    out = tmp_path_factory.mktemp("trained") / "run"
    code = finetune(*quick(manifest, out, "--epochs", 3, "--steps-per-epoch", 20, "--lr-high", 3e-4, "--patience", 0,
                           "--extract"))
    assert code == 0
    return out


# 1. per-group learning rates


def test_param_groups_carry_the_recipes_rates_and_no_decay_on_biases():
    backbone = create_backbone("tiny")
    recipe = RECIPES["optimal"]
    apply_recipe(backbone, recipe)
    named = {id(p): n for n, p in backbone.named_parameters()}
    groups = {g["name"]: g for g in param_groups(backbone, recipe, weight_decay=5e-4)}
    assert set(groups) == {f"{g}{s}" for g in GROUP_PREFIX for s in ("", "/no_decay")}
    expected = {"low": 1e-2, "high": 1e-4, "classifier": 1e-2, "head": 1e-2}
    for name, g in groups.items():
        group = name.split("/")[0]
        assert g["lr"] == expected[group]
        params = [named[id(p)] for p in g["params"]]
        assert all(p.startswith(GROUP_PREFIX[group]) for p in params), (name, params)
        if name.endswith("/no_decay"):
            assert g["weight_decay"] == 0.0 and params == [GROUP_PREFIX[group] + "bias"]
        else:
            assert g["weight_decay"] == 5e-4 and params == [GROUP_PREFIX[group] + "weight"]
    # every trainable parameter is in exactly one group
    listed = [id(p) for g in groups.values() for p in g["params"]]
    assert sorted(listed) == sorted(id(p) for p in backbone.parameters())

    scaled = {g["name"]: g["lr"] for g in param_groups(backbone, recipe, weight_decay=5e-4, lr_scale=8)}
    assert scaled == {n: 8 * expected[n.split("/")[0]] for n in groups}

    # a frozen group gets no parameter group at all
    c = create_backbone("tiny")
    apply_recipe(c, RECIPES["C"])
    assert {g["name"] for g in param_groups(c, RECIPES["C"], weight_decay=1e-3)} == \
        {f"{g}{s}" for g in ("low", "classifier", "head") for s in ("", "/no_decay")}


def test_a_runs_optimizer_uses_the_recipe_rates_with_overrides(trained_run):
    log = read_log(trained_run)
    assert [h["epoch"] for h in log] == [1, 2, 3]
    assert log[0]["lr"] == {"low": 1e-2, "high": 3e-4, "classifier": 1e-2, "head": 1e-2}  # --lr-high 3e-4
    ckpt = torch.load(trained_run / "last.pt", map_location="cpu", weights_only=True)
    groups = {g["name"]: g for g in ckpt["optimizer"]["param_groups"]}
    for name, g in groups.items():
        assert g["lr"] == log[-1]["lr"][name.split("/")[0]]
        assert g["weight_decay"] == (0.0 if name.endswith("/no_decay") else 5e-4)
        assert g["momentum"] == 0.9
    assert sum(len(g["params"]) for g in groups.values()) == 8  # 4 layers x (weight, bias)
    assert [c["class_index"] for c in ckpt["classes"]] == [134, 849, 879]


def test_zero_learning_rate_overrides_are_kept():
    args = get_args_parser().parse_args(["--manifest", "m.jsonl", "--out", "o", "--lr-low", "0", "--lr-head", "0.5"])
    assert config_from_args(args).lr == {"low": 0.0, "head": 0.5}


# 2. re-initialisation


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_optimal_recipe_reinitialises_low_layers_and_classifier_only():
    backbone = create_backbone("tiny")
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    torch.manual_seed(123)
    rows = apply_recipe(backbone, RECIPES["optimal"])
    after = backbone.state_dict()
    assert _changed(before, after) == {p + s for p in ("net.0.", "net.6.", "net.8.") for s in ("weight", "bias")}
    assert [(r["layer"], r["group"], r["action"]) for r in rows] == [
        ("conv1", "low", "reinit"), ("conv2", "high", "keep"), ("fc", "classifier", "reinit"),
        ("head", "head", "reinit")]
    assert all(p.requires_grad for p in backbone.parameters())
    for prefix in ("net.0.", "net.6.", "net.8."):  # Caffe's xavier filler: U(+-sqrt(3 / fan_in)), zero biases
        w = after[prefix + "weight"]
        bound = math.sqrt(3.0 / w[0].numel())
        assert w.abs().max() <= bound
        # PyTorch's default init stays within sqrt(1 / fan_in), 58% of this bound: a uniform sample nears it
        assert w.abs().max() > 0.85 * bound, prefix
        assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.25)
        assert torch.count_nonzero(after[prefix + "bias"]) == 0
    # seeded: the same seed re-initialises the same way
    again = create_backbone("tiny")
    torch.manual_seed(123)
    apply_recipe(again, RECIPES["optimal"])
    assert not _changed(after, again.state_dict())


def test_linear_recipe_changes_only_the_head_and_freezes_the_rest():
    backbone = create_backbone("tiny")
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    apply_recipe(backbone, RECIPES["linear"])
    assert _changed(before, backbone.state_dict()) == {"net.8.weight", "net.8.bias"}
    assert {n for n, p in backbone.named_parameters() if p.requires_grad} == {"net.8.weight", "net.8.bias"}
    assert [layer.group for layer in layers(backbone)] == ["low", "high", "classifier", "head"]


# 3. frozen layers


@pytest.mark.parametrize("recipe", ["C", "D", "linear"])
def test_frozen_layers_stay_bit_identical_through_training(manifest, tmp_path, recipe):
    out = tmp_path / recipe
    assert finetune(*quick(manifest, out, "--recipe", recipe, "--epochs", 2, "--steps-per-epoch", 4,
                           "--patience", 0)) == 0
    cfg = config_from_args(get_args_parser().parse_args([str(a) for a in quick(manifest, out, "--recipe", recipe)]))
    ckpt = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    initial, _, _ = build_model(cfg, ckpt["classes"])  # the run's own starting point, rebuilt
    initial = initial.state_dict()
    pretrained = create_backbone("tiny").state_dict()  # what a frozen (never re-initialised) layer must hold
    for name in ("last.pt", "best.pt"):
        final = model_state(out / name)
        assert set(final) == set(initial)
        for group, prefix in GROUP_PREFIX.items():
            keys = [k for k in final if k.startswith(prefix)]
            assert len(keys) == 2
            for k in keys:
                if RECIPES[recipe].actions[group] == "freeze":
                    assert torch.equal(final[k], initial[k]), f"{recipe}: frozen {k} moved"
                    assert torch.equal(final[k], pretrained[k]), f"{recipe}: frozen {k} is not the pretrained one"
                else:
                    assert not torch.equal(final[k], initial[k]), f"{recipe}: trained {k} did not move"
        assert torch.equal(final["imagenet_index"], torch.tensor([134, 849, 879]))  # the only buffer
    trained = sum(1 for g in RECIPES[recipe].actions.values() if g != "freeze")
    assert sum(len(g["params"]) for g in ckpt["optimizer"]["param_groups"]) == 2 * trained


# 4. kill -9 and resume

KILLABLE = """
import os, sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from training import checkpoint, data
from training.finetune import get_args_parser, main
marker, where, at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def block():
    marker.write_text(str(os.getpid()))
    time.sleep(600)  # until killed
getitem, save, saves = data.LabelledImages.__getitem__, torch.save, []
def blocking_getitem(self, key):
    if where == "draw" and isinstance(key, tuple) and key[1] == at:  # a train draw in the middle of an epoch
        block()
    return getitem(self, key)
def blocking_save(obj, f, *args, **kwargs):
    saves.append(1)
    if where == "save" and len(saves) == at:  # checkpoint.save, half-way through writing the file
        f.write(b"PK\\x03\\x04" + bytes(1000))
        f.flush()
        block()
    return save(obj, f, *args, **kwargs)
data.LabelledImages.__getitem__ = blocking_getitem
checkpoint.torch.save = blocking_save
sys.exit(main(get_args_parser().parse_args(sys.argv[4:])))
"""


def _wait_for(proc: subprocess.Popen, marker: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before reaching the kill point: "
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError("the run did not reach the kill point in time")
        time.sleep(0.02)


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path):
    """Killed in the middle of epoch 2, and killed while writing epoch 2's checkpoint: both resume from epoch 1's
    checkpoint to the same logs and bit-identical weights as a run never interrupted."""
    steps, batch, epochs = 6, 8, 4
    per_epoch = steps * batch
    # mislabelled val images: the val loss rises from epoch 2 on, so the learning rate decays, and a resumed run
    # that lost the scheduler's state (its best loss, its bad epochs) would train on at the old rate
    manifest = make_dataset(tmp_path / "data", val_shift=1)

    def argv(out):
        return [str(a) for a in quick(manifest, out, "--epochs", epochs, "--steps-per-epoch", steps, "--patience", 0,
                                      "--lr-patience", 0, "--lr-factor", 0.5, "--lr-low", 0.1, "--lr-classifier", 0.1,
                                      "--lr-head", 0.1)]

    def popen(cmd):
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    env = subprocess_env()
    whole = tmp_path / "whole"
    # "draw": blocks on the 21st draw of epoch 2, after two optimizer steps of that epoch that no checkpoint holds;
    # "save": blocks inside epoch 2's torch.save, with part of the file written
    kills = {"draw": per_epoch + 20, "save": 2}
    runs = {where: tmp_path / f"killed-{where}" for where in kills}
    ref = popen([sys.executable, "-m", "training.finetune", *argv(whole)])  # one thread each, side by side
    victims = {where: popen([sys.executable, "-c", KILLABLE, str(tmp_path / f"{where}.blocked"), where, str(at),
                             *argv(runs[where])]) for where, at in kills.items()}
    pids = {where: v.pid for where, v in victims.items()}
    try:
        for where, victim in victims.items():
            _wait_for(victim, tmp_path / f"{where}.blocked")
            os.kill(victim.pid, signal.SIGKILL)
            assert victim.wait(timeout=30) == -signal.SIGKILL
    finally:
        for victim in victims.values():
            if victim.poll() is None:
                victim.kill()
                victim.wait()
    _, ref_err = ref.communicate(timeout=300)
    assert ref.returncode == 0, ref_err

    # what the kills left: epoch 1's complete checkpoint and log; a kill inside checkpoint.save also leaves its
    # temporary file (.last.pt.<pid>.tmp; inside atomic_write_text it would be .log.jsonl.<pid>.tmp and the like)
    for where, out in runs.items():
        assert torch.load(out / "last.pt", map_location="cpu", weights_only=True)["epoch"] == 1, where
        assert [h["epoch"] for h in read_log(out)] == [1], where
    assert sorted(p.name for p in runs["draw"].iterdir()) == ["args.json", "best.pt", "last.pt", "log.jsonl",
                                                             "summary.csv"]
    partial = runs["save"] / f".last.pt.{pids['save']}.tmp"
    assert sorted(p.name for p in runs["save"].iterdir()) == sorted([partial.name, "args.json", "best.pt", "last.pt",
                                                                    "log.jsonl", "summary.csv"])
    with pytest.raises(checkpoint.CheckpointError, match="not a complete checkpoint"):
        checkpoint.load(partial)

    # resumed with the default number of workers (1 decoding process instead of 0): the same batches
    resumed = {where: popen([sys.executable, "-m", "training.finetune", "--resume", str(out)])
               for where, out in runs.items()}
    for where, proc in resumed.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{where}: {err}"
        assert "resuming after epoch 1" in err, where

    ref_log = read_log(whole)
    assert ref_log[-1]["train_loss"] < ref_log[0]["train_loss"]  # it learnt something worth comparing
    assert [h["best"] for h in ref_log] == [True, False, False, False]
    assert ref_log[-1]["lr"]["low"] < ref_log[1]["lr"]["low"] == 0.1  # ... and decayed the rate after epoch 2
    b = torch.load(whole / "last.pt", map_location="cpu", weights_only=True)
    for where, out in runs.items():
        log = read_log(out)
        assert [h["epoch"] for h in log] == list(range(1, epochs + 1)), where  # each epoch exactly once
        assert metrics(log) == metrics(ref_log), where
        for name in ("last.pt", "best.pt"):
            sa, sb = model_state(out / name), model_state(whole / name)
            assert sa.keys() == sb.keys()
            for k in sa:
                assert torch.equal(sa[k], sb[k]), f"{where}, {name}: {k} differs after kill and resume"
        a = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
        for k in ("epoch", "step", "early_stopping", "scheduler"):
            assert a[k] == b[k], (where, k)
        for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
            assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
        # the killed save's temporary file is removed when the run resumes: no file beyond a finished run's
        extra = {p.name for p in out.iterdir()} - {p.name for p in whole.iterdir()}
        assert not extra, (where, extra)


# 5. early stopping


def test_early_stopping_after_patience_epochs_and_resume_does_no_more(manifest, tmp_path, capsys):
    out = tmp_path / "run"
    # every rate 0: the weights never move, so the validation loss never improves after epoch 1
    zero = [a for g in ("low", "high", "classifier", "head") for a in (f"--lr-{g}", 0)]
    assert finetune(*quick(manifest, out, "--epochs", 10, "--steps-per-epoch", 2, "--patience", 2, *zero)) == 0
    printed = capsys.readouterr().out
    assert "stopped early" in printed
    log = read_log(out)
    assert [h["epoch"] for h in log] == [1, 2, 3]
    assert all(rate == 0 for h in log for rate in h["lr"].values())
    assert [h["best"] for h in log] == [True, False, False]
    assert len({h["val_loss"] for h in log}) == 1
    ckpt = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    best_epoch, patience = ckpt["early_stopping"]["best_epoch"], 2
    assert ckpt["early_stopping"]["stopped"] and log[-1]["epoch"] == best_epoch + patience < 10
    assert torch.load(out / "best.pt", map_location="cpu", weights_only=True)["epoch"] == best_epoch

    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name in ("last.pt", "best.pt", "log.jsonl")}
    assert finetune("--resume", out, "--epochs", 20, "--workers", 0) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name in before} == before
    assert "stopped early" in capsys.readouterr().out


# 6. DDP on CPU


@pytest.mark.slow
def test_ddp_two_processes_match_one_process_with_the_same_effective_batch(manifest, tmp_path):
    common = ["--epochs", 2, "--steps-per-epoch", 5, "--patience", 0, "--lr-scaling", "none", "--jitter", 0,
              "--hue", 0, "--hflip", 0]
    ddp_out, one_out = tmp_path / "ddp", tmp_path / "one"
    argv = [str(a) for a in quick(manifest, ddp_out, *common)]
    argv[argv.index("--batch-size") + 1] = "4"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "training.finetune", *argv]
    ddp = subprocess.run(cmd, cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=300,
                         check=False)
    assert ddp.returncode == 0, f"torchrun with gloo failed (rc {ddp.returncode}):\n{ddp.stdout}\n{ddp.stderr}"
    assert "2 process(es) x batch 4 = effective batch 8" in ddp.stderr
    assert finetune(*quick(manifest, one_out, *common)) == 0

    ddp_log, one_log = read_log(ddp_out), read_log(one_out)
    assert [(h["epoch"], h["step"]) for h in ddp_log] == [(h["epoch"], h["step"]) for h in one_log] == [(1, 5), (2, 10)]
    for a, b in zip(ddp_log, one_log):
        assert a["lr"] == b["lr"]
        for k in ("train_loss", "train_top1", "val_loss", "val_top1"):
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), k
    ddp_ckpt = torch.load(ddp_out / "last.pt", map_location="cpu", weights_only=True)
    assert ddp_ckpt["world_size"] == 2
    a, b = ddp_ckpt["model"], model_state(one_out / "last.pt")
    init = build_model(config_from_args(get_args_parser().parse_args(argv)), ddp_ckpt["classes"])[0].state_dict()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5, rtol=1e-4), k
    # and the training moved the weights far more than that tolerance
    assert max((a[k].float() - init[k].float()).abs().max().item() for k in a if k.startswith("net.0.")) > 1e-3


# 7. damaged checkpoints and occupied run folders


def _snapshot(folder: Path) -> dict:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()}


def test_truncated_or_foreign_checkpoint_is_refused(trained_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    last = run / "last.pt"
    data = last.read_bytes()
    last.unlink()  # best.pt was a hard link to it: it stays complete
    last.write_bytes(data[: len(data) // 2])
    before = _snapshot(run)
    assert finetune("--resume", run) == 1
    err = capsys.readouterr().err
    assert str(last) in err and "not a complete checkpoint" in err and "best.pt" in err
    assert _snapshot(run) == before

    torch.save(create_backbone("tiny").state_dict(), last)  # a plain state dict, not a training checkpoint
    assert finetune("--resume", run) == 1
    err = capsys.readouterr().err
    assert str(last) in err and "not a training checkpoint" in err and "--weights" in err

    torch.save({"format": checkpoint.FORMAT, "model": {}}, last)  # ours, but partial
    assert finetune("--resume", run) == 1
    err = capsys.readouterr().err
    assert str(last) in err and "lacks" in err and "optimizer" in err

    assert finetune("--resume", tmp_path / "nothing") == 1
    assert "no checkpoint there" in capsys.readouterr().err


def test_out_holding_a_run_is_refused_without_resume(trained_run, manifest, capsys):
    before = _snapshot(trained_run)
    assert finetune(*quick(manifest, trained_run, "--epochs", 1)) == 1
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err
    assert _snapshot(trained_run) == before


BAD_OPTIONS = [  # (options, what the one line says): usage errors, exit 2, before anything is read or written
    (["--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--steps-per-epoch", "0"], "--steps-per-epoch must be at least 1"),
    (["--lr-head", "-0.1"], "--lr-head must be at least 0"),
    (["--momentum", "-1"], "--momentum must be at least 0"),
    (["--weight-decay", "-1"], "--weight-decay must be at least 0"),
    (["--lr-factor", "1"], "--lr-factor must be between 0 and 1"),
    (["--lr-patience", "-1"], "--lr-patience must be at least 0"),
    (["--patience", "-1"], "--patience must be at least 0"),
    (["--crop-scale", "0.8", "0.2"], "--crop-scale MIN MAX: 0 < MIN <= MAX <= 1"),
    (["--hflip", "1.5"], "--hflip must be at least 0 and at most 1"),
    (["--jitter", "-0.1"], "--jitter must be at least 0"),
    (["--hue", "0.6"], "--hue must be at least 0 and at most 0.5"),
    (["--style", "2"], "--style must be at least 0 and at most 1"),
    (["--label-smoothing", "1"], "--label-smoothing must be at least 0 and below 1"),
    (["--workers", "-1"], "--workers must be at least 0"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be at least 1"),
    (["--keep-imagenet-head", "--head-init", "probe"], "cannot go with --keep-imagenet-head"),
    (["--device", "gpu"], "--device gpu: not a device; use auto, cpu, cuda or cuda:N"),
]


@pytest.mark.parametrize("options,says", BAD_OPTIONS, ids=[" ".join(o) for o, _ in BAD_OPTIONS])
def test_bad_options_are_usage_errors_before_anything_is_written(tmp_path, monkeypatch, capsys, options, says):
    monkeypatch.setenv("DRAWNET_WORKSPACE", str(tmp_path))
    assert finetune("--manifest", tmp_path / "absent.jsonl", "--backbone", "tiny", *options) == 2
    err = capsys.readouterr().err
    assert err.startswith("training.finetune: error: ") and says in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_resume_refuses_the_settings_of_a_new_run(tmp_path, capsys):
    assert finetune("--resume", tmp_path / "run", "--backbone", "tiny", "--lr-head", "0.1") == 2
    err = capsys.readouterr().err
    assert "--resume continues a run with its own settings: leave out --backbone, --lr-head" in err


def test_cuda_without_cuda_is_one_line_and_leaves_no_run_folder(manifest, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("DRAWNET_WORKSPACE", str(tmp_path))
    for device in ("cuda", "cuda:1"):
        assert finetune("--manifest", manifest, "--backbone", "tiny", "--device", device) == 1
        err = capsys.readouterr().err
        assert err == f"training.finetune: --device {device}: no CUDA device on this machine; use --device cpu\n"
    assert list(tmp_path.iterdir()) == []  # no runs/NNN-... folder


def test_missing_manifest_or_out_file_leaves_no_run_folder(manifest, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DRAWNET_WORKSPACE", str(tmp_path))
    assert finetune("--manifest", tmp_path / "absent.jsonl", "--backbone", "tiny", "--device", "cpu") == 1
    err = capsys.readouterr().err
    assert "absent.jsonl" in err and len(err.strip().splitlines()) == 1
    assert finetune("--manifest", manifest, "--backbone", "tiny", "--holdout-style", "nosuch") == 1
    assert "no rows of style 'nosuch'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    taken = tmp_path / "taken"
    taken.write_text("mine")
    assert finetune(*quick(manifest, taken)) == 1
    assert f"--out {taken}: a file, not a folder" in capsys.readouterr().err and taken.read_text() == "mine"


# 8. EpochSampler


def _interleave(world: int, **kw) -> list[tuple[int, int]]:
    shards = [list(EpochSampler(rank=r, world=world, **kw)) for r in range(world)]
    assert len({len(s) for s in shards}) == 1
    return [pair for step in zip(*shards) for pair in step]


def test_epoch_sampler_is_a_function_of_the_seed():
    a, b = EpochSampler(20, seed=3), EpochSampler(20, seed=3)
    assert list(a) == list(b)
    assert sorted(i for i, _ in a) == list(range(20))
    assert [d for _, d in a] == list(range(20))
    assert list(EpochSampler(20, seed=4)) != list(a)
    b.set_epoch(1)
    assert sorted(i for i, _ in b) == list(range(20)) and [i for i, _ in b] != [i for i, _ in a]
    assert [d for _, d in b] == list(range(20, 40))


@pytest.mark.parametrize("world", [2, 4])
@pytest.mark.parametrize("fixed", [None, 28])
def test_epoch_sampler_ranks_interleave_to_the_single_process_order(world, fixed):
    for epoch in range(3):
        one = EpochSampler(24, seed=1, samples_per_epoch=fixed)
        one.set_epoch(epoch)
        shards = []
        for r in range(world):
            s = EpochSampler(24, seed=1, rank=r, world=world, samples_per_epoch=fixed)
            s.set_epoch(epoch)
            shards.append(list(s))
        assert [p for step in zip(*shards) for p in step] == list(one)


def test_epoch_sampler_pads_like_distributed_sampler():
    pairs = _interleave(4, n=10, seed=2)
    single = list(EpochSampler(10, seed=2))
    assert len(pairs) == 12
    assert [i for i, _ in pairs[:10]] == [i for i, _ in single]
    assert [i for i, _ in pairs[10:]] == [i for i, _ in single[:2]]


@pytest.mark.parametrize("world", [1, 2])
def test_fixed_length_epochs_tile_the_stream_of_passes(world):
    n, per_epoch = 10, 8  # epochs end mid-pass
    stream = []
    for epoch in range(6):
        shards = []
        for r in range(world):
            s = EpochSampler(n, seed=5, rank=r, world=world, samples_per_epoch=per_epoch)
            s.set_epoch(epoch)
            assert len(s) == per_epoch // world
            shards.append(list(s))
        stream += [p for step in zip(*shards) for p in step]
    assert [d for _, d in stream] == list(range(6 * per_epoch))  # epoch e + 1 continues where e stopped
    indices = [i for i, _ in stream]
    passes = [indices[k: k + n] for k in range(0, len(indices) - n + 1, n)]
    assert len(passes) == 4 and all(sorted(p) == list(range(n)) for p in passes)  # whole shuffled passes
    assert len({tuple(p) for p in passes}) == 4  # each pass its own shuffle
    # the stream is the same as one-pass epochs would draw, pass by pass
    by_pass = []
    for p in range(4):
        s = EpochSampler(n, seed=5)
        s.set_epoch(p)
        by_pass += [i for i, _ in s]
    assert indices[: 4 * n] == by_pass


# 9. the fine-tuned checkpoint through evaluation.extract


def test_extract_puts_the_trained_classes_at_their_imagenet_indices(trained_run):
    from evaluation.features import read_features

    fs = read_features(trained_run / "features-tiny-best.h5")
    assert len(fs) == N_TRAIN + N_VAL and fs.logits.shape == (N_TRAIN + N_VAL, 1000)
    trained = [134, 849, 879]
    others = np.setdiff1d(np.arange(1000), trained)
    assert np.all(fs.logits[:, others] == IMAGENET_FLOOR)
    assert np.all(fs.logits[:, trained] > IMAGENET_FLOOR / 10)
    assert fs.attrs["num_classes_head"] == 3

    # the same logits as best.pt's head, in the head's order (sorted by ILSVRC index)
    backbone = create_backbone("tiny", weights="random")
    backbone.replace_head(trained)
    backbone.load_state_dict(model_state(trained_run / "best.pt"))
    backbone.eval()
    from training.images import load_rgb

    transform = backbone.preprocessing.transform()
    x = torch.stack([transform(load_rgb(p)) for p in fs.filepaths])
    with torch.inference_mode():
        head = backbone(x)[1].numpy()
    np.testing.assert_allclose(fs.logits[:, trained], head, rtol=1e-4, atol=1e-5)

    # the extracted val logits reproduce the best epoch's validation loss and top-1 accuracy
    best = next(h for h in read_log(trained_run) if h["epoch"] == torch.load(
        trained_run / "best.pt", map_location="cpu", weights_only=True)["epoch"])
    val = fs.split("val")
    logits = torch.from_numpy(val.logits)
    labels = torch.from_numpy(val.labels)
    assert float(torch.nn.functional.cross_entropy(logits, labels)) == pytest.approx(best["val_loss"], rel=1e-4)
    top1 = float((logits.argmax(1) == labels).double().mean())
    assert top1 == pytest.approx(best["val_top1"])
    assert top1 >= 0.9  # the boxes' colours were learnt


def test_build_model_is_reproducible(manifest):
    args = get_args_parser().parse_args([str(a) for a in quick(manifest, "unused", "--recipe", "linear")])
    cfg = config_from_args(args)
    classes = [{"wnid": w, "label": lab, "class_index": i} for i, w, lab, _ in sorted(CLASSES)]
    a, recipe, rows = build_model(cfg, classes)
    b, _, _ = build_model(cfg, classes)
    assert recipe.name == "linear" and [r["action"] for r in rows][:3] == ["freeze"] * 3
    assert not _changed(a.state_dict(), b.state_dict())
    # linear: everything below the new head is the pretrained network
    assert _changed(create_backbone("tiny").state_dict(), a.state_dict()) == {"net.8.weight", "net.8.bias"}
    assert torch.equal(a.imagenet_index, torch.tensor([134, 849, 879]))


def test_unlabelled_manifest_rows_are_skipped_and_counted(caplog):
    from training.data import class_list, labelled_manifest_rows

    rows = [{"id": f"{i:064x}", "wnid": wnid, "label": label, "class_index": index, "split": "train"}
            for i, (index, wnid, label, _) in enumerate(CLASSES)]
    rows += [{"id": f"{9 + i:064x}", "wnid": None, "label": None, "class_index": None, "split": "train"}
             for i in range(2)]
    with caplog.at_level("INFO", logger="training.data"):
        kept = labelled_manifest_rows(rows, "m.jsonl")
    assert kept == rows[:3] and [c["class_index"] for c in class_list(kept)] == [134, 849, 879]
    assert "m.jsonl: skipped 2 unlabelled rows" in caplog.text
    with pytest.raises(ValueError, match=r"m.jsonl: no rows with a class \(2 unlabelled\)"):
        labelled_manifest_rows(rows[3:], "m.jsonl")
