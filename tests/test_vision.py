"""Tests for numerics.vision: file loaders, binary tasks, digits, and training on a digits pair.

The IDX and CIFAR-10 files are written here, byte by byte with ``struct`` / ``pickle`` from the
published formats (IDX: http://yann.lecun.com/exdb/mnist/; CIFAR-10 python batches:
https://www.cs.toronto.edu/~kriz/cifar.html), so every round trip compares the loader with an
independent writer. The digits loader is compared with ``sklearn.datasets.load_digits`` read
directly, and "an easy pair" is certified linearly separable by a separate LP before training.
"""

from __future__ import annotations

import gzip
import os
import pickle
import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linprog

from numerics import MLP, Dataset, Linear, Problem, mirror_descent
from numerics.vision import (
    accuracy,
    binary_task,
    load_cifar10_batch,
    load_digits_binary,
    load_idx,
    train_test_split,
)
from theory import Potential

IDX_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype("i2"): 0x0B,
             np.dtype("i4"): 0x0C, np.dtype("f4"): 0x0D, np.dtype("f8"): 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding: 0, 0, type code, ndim, big-endian uint32 sizes, big-endian data."""
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim])
    sizes = struct.pack(f">{array.ndim}I", *array.shape)
    return header + sizes + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def error_names(path: Path, *fragments: str):
    """pytest.raises(ValueError) whose message names ``path`` and contains ``fragments``."""
    return pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + ".*".join(fragments))


# ============================================================================ IDX


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("dtype", ["u1", "i2", "f8"])
def test_idx_round_trip(tmp_path: Path, gz: bool, dtype: str) -> None:
    rng = np.random.default_rng(1)
    images = (rng.uniform(-100, 200, (7, 3, 5))).astype(dtype)
    labels = rng.integers(0, 10, 7).astype(np.uint8)
    suffix = ".gz" if gz else ""
    img = write(tmp_path / f"images-idx3{suffix}", idx_bytes(images), gz)
    lab = write(tmp_path / f"labels-idx1{suffix}", idx_bytes(labels), gz)
    got_images, got_labels = load_idx(img, lab)
    assert got_images.shape == (7, 3, 5) and got_images.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels.astype(np.int64))
    # the header is big-endian: the first value of a multi-byte file is its first bytes
    if dtype != "u1":
        first = np.frombuffer(img.read_bytes()[16:16 + images.itemsize] if not gz else
                              gzip.decompress(img.read_bytes())[16:16 + images.itemsize],
                              dtype=">" + dtype)[0]
        assert got_images[0, 0, 0] == first


def test_idx_mnist_magic_numbers(tmp_path: Path) -> None:
    """The published MNIST magic numbers are 2051 (images) and 2049 (labels)."""
    images = np.zeros((2, 28, 28), np.uint8)
    img = write(tmp_path / "img", idx_bytes(images))
    lab = write(tmp_path / "lab", idx_bytes(np.array([4, 9], np.uint8)))
    assert struct.unpack(">I", img.read_bytes()[:4])[0] == 2051
    assert struct.unpack(">I", lab.read_bytes()[:4])[0] == 2049
    assert load_idx(img, lab)[0].shape == (2, 28, 28)


def test_idx_rejects_corrupt_files(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    labels = np.array([1, 2], np.uint8)
    good_img = write(tmp_path / "good-img", idx_bytes(images))
    good_lab = write(tmp_path / "good-lab", idx_bytes(labels))

    bad = write(tmp_path / "bad-magic", b"\x01\x02" + idx_bytes(images)[2:])
    with error_names(bad, "bad magic number"):
        load_idx(bad, good_lab)
    bad = write(tmp_path / "bad-type", b"\x00\x00\x07\x03" + idx_bytes(images)[4:])
    with error_names(bad, "bad magic number"):
        load_idx(bad, good_lab)
    with error_names(good_lab, "1 dimension", "expected 3"):        # files swapped
        load_idx(good_lab, good_img)
    bad = write(tmp_path / "truncated", idx_bytes(images)[:-1])
    with error_names(bad, "truncated", "needs 34"):                 # 16 + 18 bytes
        load_idx(bad, good_lab)
    bad = write(tmp_path / "short-header", idx_bytes(images)[:10])
    with error_names(bad, "truncated IDX header"):
        load_idx(bad, good_lab)
    bad = write(tmp_path / "tiny", b"\x00\x00")
    with error_names(bad, "shorter than the 4-byte magic"):
        load_idx(bad, good_lab)
    bad = write(tmp_path / "trailing", idx_bytes(images) + b"\x00")
    with error_names(bad, "trailing bytes"):
        load_idx(bad, good_lab)
    bad = write(tmp_path / "three-labels", idx_bytes(np.array([1, 2, 3], np.uint8)))
    with error_names(bad, "3 labels", "2 images"):
        load_idx(good_img, bad)
    bad = write(tmp_path / "float-labels", idx_bytes(np.array([1.0, 2.0])))
    with error_names(bad, "integer IDX type"):
        load_idx(good_img, bad)
    bad = write(tmp_path / "broken.gz", gzip.compress(idx_bytes(images))[:-6])
    with error_names(bad, "corrupt gzip"):
        load_idx(bad, good_lab)
    bad = write(tmp_path / "short.gz", idx_bytes(images)[:-3], gz=True)   # valid gzip, short IDX
    with error_names(bad, "truncated"):
        load_idx(bad, good_lab)
    with pytest.raises(FileNotFoundError, match="missing-file"):
        load_idx(tmp_path / "missing-file", good_lab)


# ============================================================================ CIFAR-10


def cifar_rows(images: np.ndarray) -> np.ndarray:
    """(n, 32, 32, 3) -> (n, 3072): all red values row by row, then green, then blue."""
    n = images.shape[0]
    rows = np.empty((n, 3072), np.uint8)
    for c in range(3):
        rows[:, 1024 * c:1024 * (c + 1)] = images[..., c].reshape(n, 1024)
    return rows


@pytest.mark.parametrize(("protocol", "bytes_keys"), [(2, True), (5, False)],
                         ids=["py2-style", "py3"])
def test_cifar_round_trip(tmp_path: Path, protocol: int, bytes_keys: bool) -> None:
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    labels = [3, 5, 3, 9]
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    batch = {key("batch_label"): b"testing batch 1 of 1", key("data"): cifar_rows(images),
             key("labels"): labels, key("filenames"): [b"a.png", b"b.png", b"c.png", b"d.png"]}
    raw = pickle.dumps(batch, protocol=protocol)
    if protocol == 2:   # the distributed files were written by numpy 1.x: numpy.core, not _core
        raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw)
    got_images, got_labels = load_cifar10_batch(path)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    # one pixel by hand: blue value of row 5, column 7 of image 2 sits at 2048 + 5 * 32 + 7
    assert got_images[2, 5, 7, 2] == batch[key("data")][2, 2048 + 5 * 32 + 7]
    ds = binary_task(got_images, got_labels, 3, 9, grayscale=True, downsample=4)
    assert (ds.n, ds.d, ds.info["image_shape"]) == (3, 64, (8, 8))
    expected = images[0].astype(float).mean(axis=2)[:4, :4].mean() / 255
    assert ds.X[0, 0] == pytest.approx(expected, rel=1e-12)


class _Evil:
    """Unpickling it would call os.mkdir(path): the loader must refuse before that."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_cifar_rejects_bad_batches(tmp_path: Path) -> None:
    data = np.zeros((2, 3072), np.uint8)

    def batch_file(name: str, obj, protocol: int = 2) -> Path:
        path = tmp_path / name
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        return path

    marker = tmp_path / "was-executed"
    path = batch_file("evil", {b"data": data, b"labels": [0, 1], b"x": _Evil(str(marker))})
    with error_names(path, "refusing to load global posix.mkdir|refusing to load global os.mkdir"):
        load_cifar10_batch(path)
    assert not marker.exists()
    path = batch_file("no-labels", {b"data": data})
    with error_names(path, "lacks key", "labels"):
        load_cifar10_batch(path)
    path = batch_file("wrong-shape", {b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]})
    with error_names(path, "shape \\(n, 3072\\)"):
        load_cifar10_batch(path)
    path = batch_file("wrong-dtype", {b"data": np.zeros((2, 3072)), b"labels": [0, 1]})
    with error_names(path, "uint8"):
        load_cifar10_batch(path)
    path = batch_file("label-count", {b"data": data, b"labels": [0, 1, 2]})
    with error_names(path, "must be 2 integers"):
        load_cifar10_batch(path)
    path = batch_file("label-range", {b"data": data, b"labels": [0, 10]})
    with error_names(path, "0..9"):
        load_cifar10_batch(path)
    path = batch_file("a-list", [data, [0, 1]])
    with error_names(path, "holds a list"):
        load_cifar10_batch(path)
    path = tmp_path / "truncated"
    path.write_bytes(pickle.dumps({b"data": data, b"labels": [0, 1]}, protocol=2)[:-40])
    with error_names(path, "truncated or corrupt"):
        load_cifar10_batch(path)
    path = tmp_path / "not-a-pickle"
    path.write_bytes(b"hello, world")
    with error_names(path, "not a CIFAR-10 python batch"):
        load_cifar10_batch(path)


# ============================================================================ binary tasks


def test_binary_task_selects_pools_and_scales() -> None:
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (30, 4, 6), dtype=np.uint8)
    labels = rng.integers(0, 4, 30)
    ds = binary_task(images, labels, a=2, b=0)
    rows = [i for i in range(30) if labels[i] in (0, 2)]
    assert ds.n == len(rows) and ds.d == 24 and ds.info["image_shape"] == (4, 6)
    for r, i in enumerate(rows):
        assert ds.y[r] == (1.0 if labels[i] == 2 else -1.0)
        np.testing.assert_array_equal(ds.X[r], images[i].ravel() / 255.0)
    pooled = binary_task(images, labels, a=2, b=0, downsample=2, scale=2.0)
    assert pooled.info["image_shape"] == (2, 3)
    for r, i in enumerate(rows):
        for p in range(2):
            for q in range(3):
                block = images[i, 2 * p:2 * p + 2, 2 * q:2 * q + 2].astype(float)
                assert pooled.X[r, 3 * p + q] == pytest.approx(block.mean() / 2.0, rel=1e-14)
    signed = binary_task(images.astype(float) - 128, labels, a=2, b=0)   # float: max |pixel|
    assert np.max(np.abs(signed.X)) == 1.0


def test_binary_task_rejects_bad_input() -> None:
    images, labels = np.zeros((4, 4, 4)), [0, 1, 0, 1]
    with pytest.raises(ValueError, match="must differ"):
        binary_task(images, labels, 1, 1)
    with pytest.raises(ValueError, match=re.escape("class b=7 does not occur in labels")):
        binary_task(images, labels, 1, 7)
    with pytest.raises(ValueError, match="downsample=3 must divide the image size 4x4"):
        binary_task(images, labels, 0, 1, downsample=3)
    with pytest.raises(ValueError, match=re.escape("labels must have shape (4,)")):
        binary_task(images, [0, 1], 0, 1)
    with pytest.raises(ValueError, match="images must have shape"):
        binary_task(np.zeros((4, 16)), labels, 0, 1)
    with pytest.raises(ValueError, match="labels must be integers"):
        binary_task(images, ["zero", "one", "zero", "one"], 0, 1)
    with pytest.raises(ValueError, match="labels must be integers"):
        binary_task(images, [0.5, 1, 0, 1], 0, 1)
    with pytest.raises(ValueError, match="scale must be a finite float > 0"):
        binary_task(images, labels, 0, 1, scale=0.0)


def test_train_test_split_is_a_stratified_partition() -> None:
    rng = np.random.default_rng(4)
    X = np.arange(40.0).reshape(20, 2)          # distinct rows identify the samples
    y = np.where(rng.uniform(size=20) < 0.3, 1, -1)
    train, test = train_test_split(Dataset.from_arrays(X, y), test_fraction=0.25, seed=5)
    rows = np.concatenate([train.X[:, 0], test.X[:, 0]])
    assert sorted(rows) == list(X[:, 0])                     # disjoint, and nothing lost
    for label in (1, -1):
        count = int(np.sum(y == label))
        assert int(np.sum(test.y == label)) == max(1, round(0.25 * count))
    assert train.params["split"] == "train" and test.params["split"] == "test"
    with pytest.raises(ValueError, match="single sample"):
        train_test_split(Dataset.from_arrays(X[:3], [1, -1, -1]))


# ============================================================================ digits


def test_digits_match_sklearn() -> None:
    sk = pytest.importorskip("sklearn.datasets").load_digits()
    mask = (sk.target == 4) | (sk.target == 9)
    ds = load_digits_binary(4, 9)
    np.testing.assert_array_equal(ds.X, sk.data[mask] / 16.0)       # data = images row by row
    np.testing.assert_array_equal(ds.y, np.where(sk.target[mask] == 4, 1.0, -1.0))
    assert ds.info["image_shape"] == (8, 8) and ds.X.min() == 0.0 and ds.X.max() == 1.0
    small = load_digits_binary(4, 9, downsample=2)
    img = sk.images[mask][0]
    assert small.X[0, 1] == pytest.approx(img[0:2, 2:4].mean() / 16.0, rel=1e-14)
    with pytest.raises(ValueError, match=re.escape("a must be a digit 0..9")):
        load_digits_binary(10, 1)


def test_digits_without_sklearn_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)   # import now raises ImportError
    with pytest.raises(ImportError, match=re.escape("pip install 'mirrorflow[vision]'")):
        load_digits_binary(0, 1)


def lp_margin(X: np.ndarray, y: np.ndarray) -> float:
    """max_{||w||_inf <= 1} min_i y_i <x_i, w> by linprog: > 0 iff separable through 0."""
    n, d = X.shape
    c = np.zeros(d + 1)
    c[-1] = -1.0
    A = np.hstack([-(y[:, None] * X), np.ones((n, 1))])
    res = linprog(c, A_ub=A, b_ub=np.zeros(n), bounds=[(-1, 1)] * d + [(None, None)],
                  method="highs")
    assert res.status == 0, res.message
    return float(-res.fun)


@pytest.mark.parametrize("potential", [Potential.quadratic(), Potential.hyperbolic_entropy(0.1)],
                         ids=["gd", "hyperbolic-entropy"])
def test_training_on_an_easy_pair_separates_it(potential: Potential) -> None:
    """0 vs 1 is linearly separable through the origin (checked by LP), so a bias-free ReLU MLP
    (which contains w -> relu(w.x) - relu(-w.x)) can separate it; mirror descent with a small
    step is a descent method, so the loss decreases and the margin becomes positive."""
    pytest.importorskip("sklearn")
    ds = load_digits_binary(0, 1)
    assert lp_margin(ds.X, ds.y) > 0
    train, test = train_test_split(ds, test_fraction=0.3, seed=0)
    model = MLP(widths=(8,))
    prob = Problem.create(train, model, potential, scale=0.5, seed=1)
    sol = mirror_descent(prob, eta=1e-3, steps=400, record_every=10)
    assert sol.status == "reached"
    assert np.all(np.diff(sol.log_loss) < 0)
    assert sol.min_margin[0] < 0, "precondition: the initial network misclassifies some image"
    assert sol.min_margin[-1] > 0
    theta = sol.theta[-1]
    assert accuracy(model, theta, train) == 1.0                    # positive margin <=> all right
    assert accuracy(model, theta, test) > 0.9


def test_accuracy_counts_signs() -> None:
    ds = Dataset.from_arrays([[1.0, 2.0], [2.0, -1.0], [-1.0, 0.5], [0.0, 0.0]], [1, 1, -1, -1])
    # outputs <(1, 1), x> = 3, 1, -0.5, 0: the last one (0) counts as wrong
    assert accuracy(Linear(), [1.0, 1.0], ds) == 0.75
