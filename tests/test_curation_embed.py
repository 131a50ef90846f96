"""curation.embed: features matched to samples by image_id, t-SNE/UMAP brain runs, the static plot."""
import io
import json

import numpy as np
import pytest

from curation.embed import (
    EmbedConfig,
    embed,
    embedding_png,
    first_rows,
    get_args_parser,
    key_stem,
    knn_graph,
    main,
    match_rows,
    pca_reduce,
    tsne_points,
    umap_points,
)
from evaluation.features import FeatureSet, write_features
from tests.conftest import make_manifest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def blobs(n: int, d: int = 64, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points in ``k`` well-separated Gaussian clusters of dimension ``d``."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centres = rng.normal(0, 10, (k, d))
    return (centres[y] + rng.normal(0, 1, (n, d))).astype(np.float32), y


def neighbour_agreement(points: np.ndarray, y: np.ndarray) -> float:
    """Share of points whose nearest other point (in 2-D) has the same class."""
    dist = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    return float((y[dist.argmin(1)] == y).mean())


# ----------------------------------------------------------------------------- pure functions


def test_key_stem_is_an_identifier():
    assert key_stem("efficientnet-lite0", "pool") == "efficientnet_lite0_pool"
    assert key_stem("vgg19", "fc7") == "vgg19_fc7"
    assert key_stem("3d.net", "fc 7") == "f_3d_net_fc_7"
    with pytest.raises(ValueError):
        key_stem("--", "")


def test_rows_are_matched_by_id_not_by_order():
    ids = np.array(["c", "a", "c", "x", "b"], dtype=object)  # "c" twice (two classes), "x" not in the dataset
    first = first_rows(ids)
    assert first.tolist() == [0, 1, 3, 4]
    rows, pos, unknown = match_rows(ids[first], np.array(["a", "b", "c", "d"], dtype=object))
    assert ids[first][rows].tolist() == ["c", "a", "b"] and pos.tolist() == [2, 0, 1] and unknown == 1


def test_pca_reduce_matches_sklearn_and_is_seeded():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(80, 80)))[0][:10]  # 10 orthonormal directions, distinct variances
    X = ((rng.normal(size=(300, 10)) * np.linspace(20, 2, 10)) @ basis + rng.normal(0, 0.01, (300, 80)))
    X = X.astype(np.float32)
    ours = pca_reduce(X, 10, seed=0, chunk_rows=64)
    ref = PCA(10, svd_solver="randomized", random_state=0).fit_transform(X)
    assert ours.shape == (300, 10) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-3)
    rows = np.arange(0, 300, 2)
    sub = pca_reduce(X, 10, rows=rows, fit_rows=100, seed=1)
    assert sub.shape == (150, 10)
    np.testing.assert_array_equal(sub, pca_reduce(X, 10, rows=rows, fit_rows=100, seed=1))
    assert pca_reduce(X[:, :8], 10).shape == (300, 8)  # fewer dims than components: unchanged


class CountingRows:
    """An array that records how many rows each read takes (an h5py dataset answers the same calls)."""

    def __init__(self, data):
        self.data, self.shape, self.reads = data, data.shape, []

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        assert isinstance(index, slice), "rows are read as contiguous slices, never gathered one by one"
        self.reads.append(len(range(*index.indices(len(self.data)))))
        return self.data[index]


def test_rows_are_read_in_bounded_blocks_in_any_order(tmp_path):
    import h5py

    from evaluation.features import read_features, read_rows

    X = np.random.default_rng(0).normal(size=(100, 5)).astype(np.float32)
    rows = np.array([97, 3, 3, 50, 51, 0, 99, 20])  # any order, a repeat, gaps
    counted = CountingRows(X)
    np.testing.assert_array_equal(read_rows(counted, rows, chunk=8), X[rows])
    assert max(counted.reads) <= 8 and sum(counted.reads) < len(X)
    path, _ = features_for(tmp_path, [f"{i:064x}" for i in range(6)], [1, 2, 3, 1, 2, 3])
    with h5py.File(path, "r") as f:
        whole = read_features(path)
        np.testing.assert_array_equal(read_rows(f["features"], [6, 0, 2], dtype=np.float16, chunk=2),
                                      whole.features[[6, 0, 2]].astype(np.float16))
    light = read_features(path, features=False, logits=False)
    assert light.features.shape == (7, 0) and light.logits is None and light.ids.tolist() == whole.ids.tolist()


def test_pca_reduce_on_the_file_equals_the_array_and_reads_a_chunk_at_a_time():
    X, _ = blobs(300, d=80)
    rows = np.random.default_rng(2).permutation(300)[:250]
    counted = CountingRows(X)
    ours = pca_reduce(counted, 10, rows=rows, fit_rows=120, seed=3, chunk_rows=32)
    np.testing.assert_array_equal(ours, pca_reduce(X, 10, rows=rows, fit_rows=120, seed=3, chunk_rows=32))
    assert max(counted.reads) <= 32  # the fit sample and the transform alike


def test_knn_graph_excludes_self_and_is_exact_when_small():
    from sklearn.neighbors import NearestNeighbors

    X, _ = blobs(200, d=10)
    idx, dist = knn_graph(X, 5, seed=0)
    assert idx.shape == dist.shape == (200, 5) and not (idx == np.arange(200)[:, None]).any()
    assert (np.diff(dist, axis=1) >= 0).all()
    ref_dist, _ = NearestNeighbors(n_neighbors=6).fit(X).kneighbors(X)
    np.testing.assert_allclose(dist, ref_dist[:, 1:], rtol=1e-4)


@pytest.mark.parametrize("backend", ["opentsne", "sklearn"])
def test_tsne_points_shape_separation_and_seed(backend):
    from threadpoolctl import threadpool_limits

    X, y = blobs(90, d=20)
    # one OpenMP thread: on a busy machine scikit-learn's spinning threads turn 1 s into 20 s
    with threadpool_limits(1, user_api="openmp"):
        a = tsne_points(X, backend=backend, perplexity=10, seed=0)
        b = tsne_points(X, backend=backend, perplexity=10, seed=0)
    assert a.shape == (90, 2) and a.dtype == np.float32 and np.isfinite(a).all()
    assert neighbour_agreement(a, y) > 0.95
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        tsne_points(X[:3])


def test_embedding_png_is_a_png():
    from PIL import Image

    pts, y = blobs(50, d=2)
    few = embedding_png(pts, [f"class {i}" for i in y], title="three")
    many = embedding_png(pts, [f"c{i}" for i in range(50)], legend_max=20)  # no legend
    for data in (few, many):
        assert data.startswith(PNG_SIGNATURE)
        img = Image.open(io.BytesIO(data))
        img.verify()
        assert img.size[1] == 1600


# ----------------------------------------------------------------------------- with FiftyOne


def features_for(tmp_path, image_ids: list[str], labels: list[int], *, d: int = 32, extra_ids=(), name="f.h5",
                 backbone="tiny", layer="fc"):
    """A features file whose rows are shuffled, with one image twice and ``extra_ids`` unknown to the dataset.

    Each image's vector is its class centre plus noise seeded by the image's position, so
    the test can check which vector landed on which sample.
    """
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 8, (1000, d))
    ids = list(image_ids) + list(extra_ids)
    cls = list(labels) + [0] * len(extra_ids)
    feats = np.stack([centres[c] + np.random.default_rng(i).normal(0, 1, d) for i, c in enumerate(cls)])
    order = rng.permutation(len(ids))
    order = np.concatenate([order, order[:1]])  # the first image again, as a second class would add it
    fs = FeatureSet(features=feats[order].astype(np.float32), labels=np.asarray(cls)[order],
                    ids=np.asarray(ids, dtype=object)[order], splits=np.asarray(["train"] * len(order), dtype=object),
                    attrs={"backbone": backbone, "layer": layer})
    path = tmp_path / name
    write_features(path, fs)
    return path, dict(zip(ids, feats))


def loaded(fiftyone, tmp_path, name: str, n: int = 15):  # make_manifest draws at most 16 images
    from curation.load import load

    load(make_manifest(tmp_path, n=n), name)
    ds = fiftyone.load_dataset(name)
    image_ids, labels = ds.values(["image_id", "class_index"])
    return ds, image_ids, labels


@pytest.mark.fiftyone
def test_embed_attaches_by_image_id_and_stores_the_run(fiftyone, tmp_path):
    from PIL import Image

    ds, image_ids, labels = loaded(fiftyone, tmp_path, "embed-attach")
    left_out = image_ids[:2]  # two samples without features
    path, vectors = features_for(tmp_path, image_ids[2:], labels[2:], extra_ids=[f"{999:064x}"])
    s = embed(EmbedConfig(dataset="embed-attach", features=path, methods=("tsne",), jobs=1, chunk_rows=4))
    assert (s["samples"], s["with_features"], s["without_features"]) == (15, 13, 2)
    assert s["unknown_rows"] == 1 and s["duplicate_rows"] == 1
    assert s["field"] == "tiny_fc" and s["brain_keys"] == ["tiny_fc_tsne"]

    ds.reload()
    got = dict(zip(*ds.values(["image_id", "tiny_fc"])))
    for image_id in image_ids[2:]:
        assert got[image_id].dtype == np.float16
        np.testing.assert_allclose(got[image_id], vectors[image_id], rtol=2e-3, atol=2e-2)
    assert all(got[i] is None for i in left_out)

    res = ds.load_brain_results("tiny_fc_tsne")
    assert res.points.shape == (13, 2)
    with_features = set(ds.match({"image_id": {"$in": image_ids[2:]}}).values("id"))
    assert set(res.sample_ids) == with_features
    config = ds.get_brain_info("tiny_fc_tsne").config
    assert config.reducer == "tsne" and config.implementation == "opentsne"

    png = tmp_path / "f.tsne.png"  # next to the features file
    assert s["plot"] == str(png) and png.read_bytes().startswith(PNG_SIGNATURE)
    Image.open(png).verify()


@pytest.mark.fiftyone
def test_rerun_replaces_its_own_keys_only(fiftyone, tmp_path):
    import fiftyone.brain as fob

    ds, image_ids, labels = loaded(fiftyone, tmp_path, "embed-rerun")
    path, _ = features_for(tmp_path, image_ids, labels)
    cfg = EmbedConfig(dataset="embed-rerun", features=path, methods=("tsne",), jobs=1, plot=tmp_path / "p.png")
    embed(cfg)
    # the same key computed by the brain itself (another config type), and a key of someone else
    ds.delete_brain_run("tiny_fc_tsne")
    fob.compute_visualization(ds, embeddings="tiny_fc", method="pca", brain_key="tiny_fc_tsne", progress=False)
    fob.compute_visualization(ds, embeddings="tiny_fc", method="pca", brain_key="someone_else", progress=False)
    ds.reload()  # timestamps as stored (milliseconds)
    before = ds.get_brain_info("someone_else").timestamp
    embed(cfg)
    ds.reload()
    assert sorted(ds.list_brain_runs()) == ["someone_else", "tiny_fc_tsne"]
    assert ds.get_brain_info("tiny_fc_tsne").config.method == "manual"
    assert ds.get_brain_info("someone_else").timestamp == before
    assert ds.load_brain_results("tiny_fc_tsne").points.shape == (15, 2)
    assert [f for f in ds.get_field_schema() if f.startswith("tiny_fc")] == ["tiny_fc"]


@pytest.mark.fiftyone
def test_cli_rejects_missing_or_broken_files_without_writing(fiftyone, tmp_path, capsys):
    ds, image_ids, labels = loaded(fiftyone, tmp_path, "embed-cli", n=6)
    schema = set(ds.get_field_schema())

    def run(*argv):
        return main(get_args_parser().parse_args(["--dataset", "embed-cli", *argv]))

    missing = tmp_path / "missing.h5"
    assert run("--features", str(missing)) == 1
    assert "missing.h5" in capsys.readouterr().err
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"not hdf5 at all")
    assert run("--features", str(broken)) == 1
    assert "broken.h5" in capsys.readouterr().err
    no_attrs, _ = features_for(tmp_path, image_ids, labels, name="noattrs.h5", backbone="")
    assert run("--features", str(no_attrs)) == 1
    err = capsys.readouterr().err
    assert "noattrs.h5" in err and "backbone" in err
    good, _ = features_for(tmp_path, image_ids, labels, name="good.h5")
    assert run("--features", str(good), "--methods", "tsne,pca") == 2
    assert "pca" in capsys.readouterr().err
    assert run("--features", str(good), "--jobs", "0") == 2
    assert "--jobs must be a positive number of processes, or -1 for all cores; got 0" in capsys.readouterr().err
    assert run("--features", str(good), "--plot", str(good / "under-a-file.png")) == 1
    assert "cannot write there" in capsys.readouterr().err
    assert run("--features", str(good), "--dataset", "no-such-dataset") == 1
    assert "no-such-dataset" in capsys.readouterr().err
    ds.reload()
    assert set(ds.get_field_schema()) == schema and ds.list_brain_runs() == []
    assert not list(tmp_path.glob("*.png"))

    plot = tmp_path / "plots" / "fig.png"
    assert run("--features", str(good), "--methods", "tsne", "--no-attach", "--plot", str(plot), "--jobs", "1") == 0
    out = capsys.readouterr().out
    assert "6 of 6 samples embedded" in out and "tiny_fc_tsne" in out and "not attached" in out
    ds.reload()
    assert "tiny_fc" not in ds.get_field_schema() and ds.list_brain_runs() == ["tiny_fc_tsne"]
    assert plot.read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.fiftyone
@pytest.mark.slow
def test_umap_with_tsne_on_one_graph(fiftyone, tmp_path):
    """The only UMAP test: its first call compiles numba (~30 s or more)."""
    X, y = blobs(60, d=20)
    u = umap_points(X, n_neighbors=10, seed=0)
    assert u.shape == (60, 2) and u.dtype == np.float32 and neighbour_agreement(u, y) > 0.95
    np.testing.assert_array_equal(u, umap_points(X, n_neighbors=10, seed=0))

    ds, image_ids, labels = loaded(fiftyone, tmp_path, "embed-umap")
    path, _ = features_for(tmp_path, image_ids, labels)
    s = embed(EmbedConfig(dataset="embed-umap", features=path, jobs=1, dtype="float32", spatial_index=True))
    assert s["brain_keys"] == ["tiny_fc_tsne", "tiny_fc_umap"]
    ds.reload()
    for key in s["brain_keys"]:
        assert ds.load_brain_results(key).points.shape == (15, 2)
        assert key in ds.get_field_schema()  # the indexed 2-D points
    assert ds.first()["tiny_fc"].dtype == np.float32
    assert json.loads(json.dumps(s))["plot"].endswith("f.tsne.png")
