"""curation.hygiene: duplicates, leaks, tiny/blank files and likely mislabels on generated images, seeded features."""
import shutil

import numpy as np
import pytest
from PIL import Image

from curation.filechecks import blank_fraction, inspect_files, inspect_image
from curation.hygiene import HygieneConfig, get_args_parser, main, run
from curation.mislabels import mistakenness
from curation.runs import run_config
from datasets.manifest import write_jsonl
from evaluation.classify.calibration import softmax_summary
from evaluation.classify.folds import class_folds as linear_folds
from evaluation.classify.lda import fold_statistics, shrunk_lda, within_class_shrinkage
from evaluation.classify.oof import cross_validated_linear, cross_validated_probabilities
from evaluation.features import FeatureSet, write_features
from evaluation.zeroshot import find_clip_weights, label_prompts, zero_shot
from tests.conftest import tiny_clip_weights

pytestmark = pytest.mark.fiftyone

CLASSES = [(849, "n04398044", "teapot"), (879, "n04507155", "umbrella"), (134, "n02012849", "crane")]
PER_CLASS = 9
DIM = 32
FAST = {"jobs": 1, "clip": False}  # one process: loky's start-up would dominate a few dozen samples


def drawing(path, seed: int, size=(64, 48)) -> None:
    """Random coloured boxes on white: different seeds give unrelated pictures (and perceptual hashes)."""
    rng = np.random.default_rng(seed)
    w, h = size
    pixels = np.full((h, w, 3), 255, dtype=np.uint8)
    for _ in range(6):
        x0, y0 = rng.integers(0, w - w // 8), rng.integers(0, h - h // 8)
        pixels[y0 : y0 + rng.integers(h // 8, h // 2), x0 : x0 + rng.integers(w // 8, w // 2)] = rng.integers(0, 200, 3)
    Image.fromarray(pixels).save(path)


def build(tmp_path, name: str, fiftyone):
    """A loaded dataset with one of each finding, and its features file; returns (dataset, features, ids by role).

    27 drawings in three classes; then: ``exact`` is a byte copy of ``exact_src`` (both train), ``near`` is
    ``near_src`` with a few pixels changed and its features nudged (train vs val: a leak), ``tiny`` is 20x12,
    ``blank`` is white with one dot, and ``wrong`` is labelled teapot with umbrella features. ``nofeat``
    and ``broken`` (not an image) have no features row; the ambiguous ``crane`` image has two manifest rows.
    """
    from curation.load import load

    rng = np.random.default_rng(7)
    centers = rng.normal(size=(3, DIM)) * 3
    img = tmp_path / "img"
    img.mkdir()
    rows, feats = [], {}

    def add(i: int, cls: int, split: str, feature, path=None, **extra):
        index, wnid, label = CLASSES[cls]
        path = path or img / f"{i}.png"
        image_id = f"{i:064x}"
        rows.append({"id": image_id, "filepath": str(path), "label": label, "wnid": wnid, "class_index": index,
                     "split": split, "source": "test", "style": "clipart", "ambiguous": False, "candidates": [wnid],
                     "original_name": f"{label}_{i}.png", "matched_words": [label], **extra})
        if feature is not None:
            feats[image_id] = feature
        return image_id

    for i in range(3 * PER_CLASS):
        cls = i % 3
        drawing(img / f"{i}.png", seed=i)
        add(i, cls, "val" if i % 4 == 0 else "train", centers[cls] + rng.normal(size=DIM) * 1.5)
    role = {}
    # exact duplicate: same bytes, another source id; both train
    shutil.copy(img / "1.png", img / "100.png")
    role["exact_src"], role["exact"] = f"{1:064x}", add(100, 1, "train", feats[f"{1:064x}"])
    # near duplicate in the other split: a leak
    pixels = np.asarray(Image.open(img / "2.png")).copy()
    pixels[:2, :2] = 0
    Image.fromarray(pixels).save(img / "101.png")
    role["near_src"] = f"{2:064x}"
    role["near"] = add(101, 2, "val", feats[f"{2:064x}"] + rng.normal(size=DIM) * 0.01)
    drawing(img / "102.png", seed=102, size=(20, 12))
    role["tiny"] = add(102, 0, "train", centers[0] + rng.normal(size=DIM) * 1.5)
    blank = np.full((48, 64, 3), 255, dtype=np.uint8)
    blank[10, 10] = 0
    Image.fromarray(blank).save(img / "103.png")
    role["blank"] = add(103, 1, "train", centers[1] + rng.normal(size=DIM) * 1.5)
    drawing(img / "104.png", seed=104)
    role["wrong"] = add(104, 0, "train", centers[1] + rng.normal(size=DIM) * 1.5)  # labelled teapot, umbrella-like
    drawing(img / "105.png", seed=105)
    role["nofeat"] = add(105, 2, "train", None)
    (img / "106.png").write_bytes(b"not an image")
    role["broken"] = add(106, 0, "train", None)
    # an image in two classes: two manifest rows, one sample, two identical feature rows
    role["crane"] = f"{5:064x}"
    rows.append({**rows[5], "wnid": "n03126707", "class_index": 517})

    manifest = tmp_path / "manifest.jsonl"
    write_jsonl(manifest, rows)
    load(manifest, name)
    kept = [r for r in rows if r["id"] in feats]
    features = tmp_path / "feats.h5"
    write_features(features, FeatureSet(
        features=np.stack([feats[r["id"]] for r in kept]).astype(np.float32),
        labels=np.array([r["class_index"] for r in kept], dtype=np.int64),
        ids=np.array([r["id"] for r in kept], dtype=object),
        splits=np.array([r["split"] for r in kept], dtype=object)))
    return fiftyone.load_dataset(name), features, role


def by_image(dataset, field: str) -> dict:
    return dict(zip(*dataset.values(["image_id", field])))


def tagged(dataset, tag: str) -> set:
    return set(dataset.match_tags(tag).values("image_id"))


# ---------------------------------------------------------------- pure functions


def test_blank_fraction_counts_the_dominant_colour():
    white = np.full((10, 10, 3), 255, dtype=np.uint8)
    assert blank_fraction(white) == 1.0
    white[0, :5] = (250, 251, 252)  # within the tolerance: still the background
    assert blank_fraction(white, tolerance=8) == 1.0
    white[1, :] = 0
    assert blank_fraction(white) == pytest.approx(0.9)
    red = np.zeros((4, 4, 3), dtype=np.uint8)
    red[..., 0] = 200
    red[0, 0] = (0, 0, 255)
    assert blank_fraction(red) == pytest.approx(15 / 16)  # the dominant colour need not be white


def test_inspect_files_in_workers_equals_one_process(tmp_path):
    paths = []
    for i in range(6):
        drawing(tmp_path / f"{i}.png", seed=i)
        paths.append(str(tmp_path / f"{i}.png"))
    paths.append(str(tmp_path / "missing.png"))
    alone = [inspect_image(p) for p in paths]
    assert inspect_files(paths, workers=2, min_pool=0) == alone
    assert "error" in alone[-1] and alone[0]["sha256"] != alone[1]["sha256"]


def test_mistakenness_equals_the_brains(fiftyone):
    import fiftyone.brain as fob

    rng = np.random.default_rng(5)
    classes = ["cat", "dog", "owl", "fox"]
    logits = (rng.normal(size=(12, 4)) * rng.choice([0.1, 1, 5], size=(12, 1))).astype(np.float32)
    truth = [classes[i % 4] for i in range(12)]
    ds = fiftyone.Dataset("hyg-brain-mistakenness")
    ds.add_samples([fiftyone.Sample(filepath=f"/nonexistent/{i}.png", gt=fiftyone.Classification(label=t),
                                    pred=fiftyone.Classification(label=classes[int(np.argmax(z))], logits=z))
                    for i, (z, t) in enumerate(zip(logits, truth))])
    fob.compute_mistakenness(ds, "pred", label_field="gt", mistakenness_field="brain", use_logits=True)
    best, confidence, entropy = softmax_summary(logits)
    ours = mistakenness(entropy, [classes[b] == t for b, t in zip(best, truth)])
    assert np.allclose(ours, ds.values("brain"), rtol=0, atol=1e-6)  # the brain computes in float32
    assert len(set(np.round(ours, 6))) > 6 and (ours > 0.5).any() and (ours < 0.5).any()
    assert np.allclose(confidence, np.exp(logits).max(axis=1) / np.exp(logits).sum(axis=1))


def test_cv_probabilities_shape_order_and_small_classes():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 6)) * 6
    y = np.array([30] * 12 + [10] * 12 + [20] * 2 + [99])  # a two-member class and a singleton
    X = centers[np.searchsorted([10, 20, 30, 99], y)] + rng.normal(size=(len(y), 6))
    probs, classes = cross_validated_probabilities(X, y, folds=5, jobs=1)
    assert classes.tolist() == [10, 20, 30]  # sorted; the singleton's class is no column
    assert probs.shape == (len(y), 3)
    assert np.isnan(probs[-1]).all() and not np.isnan(probs[:-1]).any()
    assert np.allclose(probs[:-1].sum(axis=1), 1)
    assert (classes[np.argmax(probs[:24], axis=1)] == y[:24]).all()  # columns follow ``classes``
    # every class smaller than the folds asked for, and two classes only: still no crash
    p2, c2 = cross_validated_probabilities(X[24:26].repeat(2, axis=0) + rng.normal(size=(4, 6)),
                                           np.array([1, 1, 2, 2]), folds=5, jobs=1)
    assert c2.tolist() == [1, 2] and p2.shape == (4, 2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        cross_validated_probabilities(X[:3], np.array([1, 1, 2]), jobs=1)


def test_several_C_are_chosen_among_by_out_of_fold_log_loss_as_suggest_does():
    from curation.mislabels import CrossValidation, best_C
    from evaluation.classify.calibration import smoothed_log_loss

    rng = np.random.default_rng(1)
    y = np.repeat([1, 2, 3], 10)
    X = rng.normal(size=(3, 8))[y - 1] * 1.5 + rng.normal(size=(30, 8))  # overlapping classes: C matters
    cv = CrossValidation(exact_rows=100, folds=3, seed=0, kernel="rbf", C=(0.01, 1.0, 100.0), jobs=1)
    probs, classes, chosen = best_C(X, y, cv)
    losses = {}
    for C in cv.C:
        p, c = cross_validated_probabilities(X, y, folds=3, seed=0, kernel="rbf", C=C, jobs=1)
        losses[C] = smoothed_log_loss(np.log(p), y[:, None] == c[None, :])
        if C == chosen["C"]:
            assert np.array_equal(p, probs) and np.array_equal(c, classes)
    assert chosen["C"] == min(losses, key=losses.get) and len(set(losses.values())) == 3
    assert chosen["C_log_loss"] == {str(C): pytest.approx(v) for C, v in losses.items()}
    one = best_C(X, y, CrossValidation(exact_rows=100, folds=3, seed=0, kernel="rbf", C=(1.0,), jobs=1))
    assert one[2] is None and np.array_equal(one[0], cross_validated_probabilities(X, y, folds=3, seed=0, C=1.0,
                                                                                    jobs=1)[0])


def test_linear_cross_validation_is_a_shrunk_lda_fitted_per_fold():
    from sklearn.covariance import ledoit_wolf_shrinkage

    rng = np.random.default_rng(6)
    mixing = rng.normal(size=(10, 10))  # correlated features: a shrinkage strictly between 0 and 1
    y = np.array([30] * 40 + [10] * 40 + [20] * 30 + [40] * 2 + [99])
    X = (rng.normal(size=(len(y), 10)) @ mixing + np.searchsorted([10, 20, 30, 40, 99], y)[:, None] * 1.5 + 7)
    X = X.astype(np.float32)
    classes, target, fold = linear_folds(y, 5, 0)
    assert classes.tolist() == [10, 20, 30, 40] and fold[-1] == -1 and set(fold[:-1].tolist()) == set(range(5))
    stats = fold_statistics(X, target, fold, len(classes))
    rows = np.flatnonzero(fold >= 0)
    Z = X[rows].astype(np.float64)
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    means = np.stack([Z[target[rows] == k].mean(axis=0) for k in range(4)])
    shrinkage = within_class_shrinkage(X, target, fold, stats)
    assert 0 < shrinkage < 1
    assert shrinkage == pytest.approx(ledoit_wolf_shrinkage(Z - means[target[rows]], assume_centered=True))
    # fold 2's model, from the totals less the fold, is the model fitted on the other folds' rows from scratch
    train = fold[rows] != 2
    Zt, t = Z[train], target[rows][train]
    mt = np.stack([Zt[t == k].mean(axis=0) for k in range(4)])
    cov = (Zt - mt[t]).T @ (Zt - mt[t]) / len(t)
    cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / 10 * np.eye(10)
    W = np.linalg.solve(cov, mt.T)
    b = -0.5 * (mt * W.T).sum(axis=1) + np.log(np.bincount(t) / len(t))
    total = {k: stats[k].sum(axis=0) for k in ("gram", "sums", "counts")}
    W2, b2 = shrunk_lda(*(total[k] - stats[k][2] for k in ("gram", "sums", "counts")), shrinkage)
    assert np.allclose(W2, W) and np.allclose(b2, b)
    best, confidence, entropy, got, info = cross_validated_linear(X, y, folds=5, seed=0)
    assert got.tolist() == classes.tolist() and best[-1] == -1 and np.isnan(confidence[-1]) and np.isnan(entropy[-1])
    assert (best[:-1] == target[:-1]).mean() > 0.9 and ((confidence[:-1] > 0) & (confidence[:-1] <= 1)).all()
    assert info["folds"] == 5 and info["beta"] > 0


def test_zero_shot_agreement_is_the_probability_of_the_given_class():
    sims = np.array([[0.30, 0.20, 0.10], [0.10, 0.10, 0.32], [0.2, 0.2, 0.2]])
    probs, agree = zero_shot(sims, np.array([0, 0, -1]), logit_scale=100)
    assert probs.shape == (3, 3) and np.allclose(probs.sum(axis=1), 1)
    assert agree[0] > 0.99 and agree[1] < 0.01 and np.isnan(agree[2])
    teapot, crane = label_prompts(["teapot", "crane (n02012849)"], "a drawing of a {}")
    assert teapot == "a drawing of a teapot" and crane.startswith("a drawing of a crane, ") and "wading" in crane


@pytest.mark.slow  # importing open_clip (torch, timm) takes seconds
def test_clip_weights_are_found_in_the_caches_only(tmp_path, monkeypatch):
    from huggingface_hub import constants

    hub = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path, looked = find_clip_weights("ViT-B-32", "openai")
    assert path is None
    assert any("timm/vit_base_patch32_clip_224.openai" in place for place in looked)
    assert str(tmp_path / "home" / ".cache" / "clip" / "ViT-B-32.pt") in looked
    snap = hub / "models--timm--vit_base_patch32_clip_224.openai" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (snap / "open_clip_pytorch_model.bin").write_bytes(b"weights")
    (hub / "models--timm--vit_base_patch32_clip_224.openai" / "refs").mkdir()
    (hub / "models--timm--vit_base_patch32_clip_224.openai" / "refs" / "main").write_text("abc")
    assert find_clip_weights("ViT-B-32", "openai")[0] == str(snap / "open_clip_pytorch_model.bin")
    assert find_clip_weights("ViT-B-32", "no-such-tag")[0] is None


# ---------------------------------------------------------------- on a dataset


def test_findings_become_tags_and_fields(fiftyone, tmp_path):
    ds, features, role = build(tmp_path, "hyg-findings", fiftyone)
    summary = run("hyg-findings", features, HygieneConfig(**FAST))
    ds.reload()
    assert tagged(ds, "dup:exact") == {role["exact_src"], role["exact"]}
    assert by_image(ds, "exact_duplicates")[role["exact"]] == [role["exact_src"]]
    assert tagged(ds, "dup:near") == {role["near_src"], role["near"]}
    near_by = by_image(ds, "near_by")[role["near"]]
    assert set(near_by) == {"embedding", "phash"}
    assert tagged(ds, "leak") == {role["near_src"], role["near"]}  # exact pair is all train: no leak
    assert by_image(ds, "leak_with")[role["near"]] == [role["near_src"]]
    assert tagged(ds, "tiny") == {role["tiny"]} and by_image(ds, "min_side")[role["tiny"]] == 12
    assert tagged(ds, "blank") == {role["blank"]} and by_image(ds, "blank_fraction")[role["blank"]] > 0.999
    assert len(by_image(ds, "phash")[role["tiny"]]) == 16
    assert tagged(ds, "unreadable") == {role["broken"]} and "UnidentifiedImageError" in by_image(ds, "file_error")[
        role["broken"]]
    # the mislabelled sample ranks first; one without features is not scored
    ranked = ds.exists("mistakenness").sort_by("mistakenness", reverse=True).values("image_id")
    assert ranked[0] == role["wrong"]
    assert ds.load_saved_view("to review").first().image_id == role["wrong"]  # curation.views, refreshed
    assert by_image(ds, "cv_prediction")[role["wrong"]].label == "umbrella"
    assert by_image(ds, "mistakenness")[role["nofeat"]] is None
    pred = by_image(ds, "cv_prediction")[role["crane"]]
    assert pred.logits is None and 0 < pred.confidence <= 1  # mistakenness is ours: no K-wide logits stored
    assert ds.list_brain_runs() == []
    info = run_config(ds, "hygiene")  # the run record (curation.runs) holds the summary
    assert info["mislabels"]["method"].startswith("rbf SVM, exact kernel (")
    assert info["counts"]["dup:exact"] == 2 and info["counts"]["leak_groups"] == 1
    assert info["mislabels"]["scored"] == len(ds) - 2 and info["clip"]["status"] == "skipped"
    assert set(info["seconds"]) >= {"files", "near_embedding", "cv_svm", "mistakenness"}
    assert summary["with_features"] == len(ds) - 2


def test_a_run_is_recorded_with_its_fields_and_a_second_one_replaces_it(fiftyone, tmp_path):
    ds, features, role = build(tmp_path, "hyg-record", fiftyone)
    ds.info["hygiene"] = {"samples": 1}  # where earlier versions kept the summary: removed by a run
    ds.save()
    summary = run("hyg-record", features, HygieneConfig(**FAST, mislabels=False))
    ds.reload()
    assert ds.list_runs() == ["hygiene"] and "hygiene" not in ds.info
    first = run_config(ds, "hygiene")
    assert first["method"] == "hygiene" and first["tags"] == ["dup:exact", "dup:near", "leak", "tiny", "blank",
                                                                 "unreadable"]
    assert {"near_group", "leak_with", "min_side", "mistakenness", "cv_prediction", "clip_agreement"} <= set(
        first["fields"]) and set(first["fields"]) <= set(ds.get_field_schema())
    assert first["config"]["mislabels"] is False and first["counts"] == summary["counts"]
    assert first["mislabels"] == {"enabled": False} and first["features"] == str(features)
    run("hyg-record", features, HygieneConfig(**FAST, near_threshold=0.0, mislabels=False))
    ds.reload()
    second = run_config(ds, "hygiene")
    assert ds.list_runs() == ["hygiene"] and second["config"]["near_threshold"] == 0.0
    assert second["counts"]["near_pairs_embedding"] == 0 < first["counts"]["near_pairs_embedding"]
    ds.delete_run("hygiene")  # forgets the record, as FiftyOne users expect; the findings stay
    assert ds.list_runs() == [] and run_config(ds, "hygiene") is None and tagged(ds, "tiny") == {role["tiny"]}


def test_rerun_is_idempotent_and_leaves_other_tags_alone(fiftyone, tmp_path):
    ds, features, role = build(tmp_path, "hyg-rerun", fiftyone)
    ds.select(ds.match({"image_id": role["tiny"]}).values("id")).tag_samples("keep-me")
    splits = ds.count_sample_tags()["train"], ds.count_sample_tags()["val"]
    run("hyg-rerun", features, HygieneConfig(**FAST))
    ds.reload()
    first = {t: tagged(ds, t) for t in ("dup:exact", "dup:near", "leak", "tiny", "blank")}
    fields = {f: by_image(ds, f) for f in ("near_group", "leak_with", "min_side", "mistakenness")}
    # a stale finding, as if the files had changed since: the next run must drop it
    stale = ds.select(ds.match({"image_id": role["wrong"]}).values("id"))
    stale.tag_samples("blank")
    stale.set_values("leak_with", [["f" * 64]])
    run("hyg-rerun", features, HygieneConfig(**FAST))
    ds.reload()
    assert {t: tagged(ds, t) for t in first} == first and first["tiny"] == {role["tiny"]}
    assert {f: by_image(ds, f) for f in fields} == fields
    counts = ds.count_sample_tags()
    assert (counts["train"], counts["val"]) == splits and counts["keep-me"] == 1
    assert ds.list_brain_runs() == []


def test_an_earlier_versions_brain_run_is_removed(fiftyone, tmp_path):
    """Earlier versions wrote mistakenness with fiftyone-brain, which registered a brain run: it goes too."""
    import fiftyone.brain as fob

    ds, features, role = build(tmp_path, "hyg-legacy", fiftyone)
    scored = ds.exists("ground_truth")
    scored.set_values("cv_prediction", [fiftyone.Classification(label=g.label, logits=np.zeros(3, np.float32))
                                        for g in scored.values("ground_truth")])
    fob.compute_mistakenness(scored, "cv_prediction", label_field="ground_truth", mistakenness_field="mistakenness",
                             use_logits=True)
    assert ds.list_brain_runs() == ["mistakenness"]
    run("hyg-legacy", features, HygieneConfig(**FAST))
    ds.reload()
    assert ds.list_brain_runs() == [] and ds.exists("mistakenness").sort_by(
        "mistakenness", reverse=True).first().image_id == role["wrong"]


def test_above_the_exact_limit_the_linear_model_scores_and_says_so(fiftyone, tmp_path, capsys):
    ds, features, role = build(tmp_path, "hyg-linear", fiftyone)
    argv = ["--dataset", "hyg-linear", "--features", str(features), "--no-clip", "--jobs", "1", "--exact-rows", "10"]
    assert main(get_args_parser().parse_args(argv)) == 0
    out = capsys.readouterr().out
    ds.reload()
    info = run_config(ds, "hygiene")["mislabels"]
    assert info["method"] == f"linear: shrunk LDA ({len(ds) - 2} rows > exact limit 10)" and info["method"] in out
    assert info["scored"] == len(ds) - 2 and 0 <= info["linear"]["shrinkage"] <= 1
    ranked = ds.exists("mistakenness").sort_by("mistakenness", reverse=True).values("image_id")
    assert ranked[0] == role["wrong"] and by_image(ds, "cv_prediction")[role["wrong"]].label == "umbrella"
    assert by_image(ds, "mistakenness")[role["nofeat"]] is None


def test_rejected_samples_are_left_out_of_training(fiftyone, tmp_path, monkeypatch):
    import evaluation.classify.oof

    ds, features, role = build(tmp_path, "hyg-rejected", fiftyone)
    rejected = ds.match({"image_id": role["wrong"]}).values("id")
    ds.set_values("review", {i: "rejected" for i in rejected}, key_field="id")
    # curation relabelled an umbrella as a teapot (label only): the current label is the one checked
    relabelled = f"{4:064x}"
    ds.match({"image_id": relabelled}).set_field("ground_truth.label", "teapot").save()
    trained = []
    real = evaluation.classify.oof.cross_validated_probabilities

    def spy(features, labels, **kw):
        trained.append(len(labels))
        return real(features, labels, **kw)

    monkeypatch.setattr(evaluation.classify.oof, "cross_validated_probabilities", spy)
    summary = run("hyg-rejected", features, HygieneConfig(**FAST))
    ds.reload()
    assert trained == [len(ds) - 3]  # neither the rejected sample nor the two without features
    assert by_image(ds, "cv_prediction")[role["wrong"]] is None
    assert by_image(ds, "mistakenness")[role["wrong"]] is None
    assert summary["mislabels"]["rejected"] == 1
    assert ds.exists("mistakenness").sort_by("mistakenness", reverse=True).first().image_id == relabelled
    assert by_image(ds, "review")[role["wrong"]] == "rejected"  # someone else's field: untouched


def test_cli_skips_clip_without_weights_and_rejects_bad_input(fiftyone, tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants

    build(tmp_path, "hyg-cli", fiftyone)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    base = ["--dataset", "hyg-cli", "--features", str(tmp_path / "feats.h5"), "--jobs", "1"]
    assert main(get_args_parser().parse_args(base)) == 0
    out = capsys.readouterr().out
    assert "clip: skipped: no weights for ViT-B-32 (openai) on disk; looked in:" in out
    assert str(tmp_path / "empty-hub") in out and "ViT-B-32.pt" in out
    assert "exact duplicates: 2 samples in 1 groups" in out and "seconds:" in out
    before = fiftyone.load_dataset("hyg-cli").count_sample_tags()
    for argv, code, message in [
        (["--dataset", "no-such-set", "--features", str(tmp_path / "feats.h5")], 1, "no FiftyOne dataset 'no-such-set'"),
        (["--dataset", "hyg-cli", "--features", str(tmp_path / "missing.h5")], 1, "missing.h5: no such features file"),
        ([*base, "--clip-weights", str(tmp_path / "nope.bin")], 1, "nope.bin: no such file"),
        ([*base, "--near-threshold", "3"], 2, "--near-threshold"),
        ([*base, "--exact-rows", "-1"], 2, "--exact-rows"),
        ([*base, "--workers", "0"], 2, "--workers"),
        ([*base, "--kernel", "rbf,linear"], 2, "--kernel takes one kernel (rbf or linear), got 'rbf,linear'"),
        ([*base, "--kernel", "poly"], 2, "--kernel: unknown kernel 'poly'"),
        ([*base, "--C", "1,x"], 2, "--C: expected comma-separated numbers, got '1,x'"),
        ([*base, "--C", "0"], 2, "--C: expected positive numbers"),
        ([*base, "--clip-batch-size", "0"], 2, "--clip-batch-size must be at least 1"),
        ([*base, "--device", "gpu7"], 2, "--device gpu7: not a device"),
    ]:
        assert main(get_args_parser().parse_args(argv)) == code, argv
        assert message in capsys.readouterr().err
    assert fiftyone.load_dataset("hyg-cli").count_sample_tags() == before  # nothing half-written


@pytest.mark.slow
def test_clip_agreement_with_weights_on_disk(fiftyone, tmp_path):
    """A tiny open_clip model (random weights, saved to a file) takes the CLIP path end to end."""
    weights = tiny_clip_weights(tmp_path, "hygiene-tiny")
    ds, features, role = build(tmp_path, "hyg-clip", fiftyone)
    summary = run("hyg-clip", features, HygieneConfig(jobs=1, mislabels=False, clip_model="hygiene-tiny",
                                                      clip_weights=str(weights), device="cpu"))
    ds.reload()
    assert summary["clip"]["status"] == "done" and summary["clip"]["classes"] == 3
    assert summary["clip"]["scored"] == len(ds) - 1  # not the unreadable file
    agreement = by_image(ds, "clip_agreement")
    assert all(0 <= a <= 1 for i, a in agreement.items() if i != role["broken"])
    pred = by_image(ds, "clip_prediction")[role["wrong"]]
    assert pred.label in {"teapot", "umbrella", "crane (n02012849)"}
    assert by_image(ds, "cv_prediction")[role["wrong"]] is None and "mistakenness" not in ds.list_brain_runs()

