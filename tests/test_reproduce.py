"""``mirrorflow reproduce``: claims 1 and 3 (tiny settings), the summary, the CLI.

Expected values come from independent computations: cosines are recomputed from the saved
vectors, max-margin directions by a brute-force angle search in 2-D (not theory.max_margin),
horizons from theory, sparsity measures from the saved parameters with numpy. The CLI and the
orchestration (missing / failing claims, corrupt output directories) use stand-in claim
modules, so their tests take milliseconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import nnls

from numerics import two_d
from numerics.cli import add_reproduce_parser, run_reproduce_cli
from numerics.reproduce import FORMAT, load_summary, run_reproduce
from numerics.reproduce.claim1 import SETTINGS, kkt_table, kkt_verdict, make_problems, run_potential
from theory import Potential

TINY = {"claim1": {"setting": "tiny"}, "claim3": {"setting": "tiny"}}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("reproduce")
    summary = run_reproduce(["claim1", "claim3"], quick=True, out=out, progress=False,
                            claim_options=TINY)
    return out, summary


def _brute_force_max_margin(X: np.ndarray, y: np.ndarray, p: float) -> np.ndarray:
    """argmax over unit-l_p directions of min_i y_i <x_i, u>, by a fine angle grid + refine."""
    A = y[:, None] * X

    def best(angles):
        U = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        U /= np.linalg.norm(U, ord=p, axis=1, keepdims=True)
        m = (U @ A.T).min(axis=1)
        return angles[np.argmax(m)], U[np.argmax(m)]

    a, _ = best(np.linspace(0, 2 * np.pi, 200_001))
    a, u = best(np.linspace(a - 1e-4, a + 1e-4, 20_001))
    return u / np.linalg.norm(u)


# ---------------------------------------------------------------- summary file


def test_summary_file_is_versioned_and_complete(tiny_run) -> None:
    out, summary = tiny_run
    on_disk = load_summary(out / "summary.json")
    assert on_disk["format"] == FORMAT and on_disk["version"] == 1
    assert on_disk["quick"] is True and set(on_disk["claims"]) == {"claim1", "claim3"}
    assert json.loads(json.dumps(summary)) == on_disk
    for name in ("claim1", "claim3"):
        sec = on_disk["claims"][name]
        assert "error" not in sec, sec.get("traceback")
        assert isinstance(sec["holds"], bool)
        for fig in sec["figures"]:
            assert fig.startswith(name) and (out / fig).stat().st_size > 1000
        assert {Path(f).suffix for f in sec["figures"]} == {".png", ".pdf"}


# ---------------------------------------------------------------- claim 1


def test_claim1_horizons_come_from_theory(tiny_run) -> None:
    sec = tiny_run[1]["claims"]["claim1"]
    expected = {"l1": ("l1", 1), "l2": ("lp", 2), "linf": ("linf", None)}
    for spec in sec["potentials"]:
        h = Potential(spec["expr"], **spec["params"]).horizon
        label = sec["models"]["linear"]["potentials"][spec["name"]]["horizon"]
        norm, p = expected[label]
        assert h.norm == norm and (p is None or h.p == p)


def test_claim1_cosines_recomputed_from_saved_vectors(tiny_run) -> None:
    sec = tiny_run[1]["claims"]["claim1"]
    lin = sec["models"]["linear"]
    names = lin["cosine"]["names"]
    pots = lin["potentials"]
    V = np.array([pots[k]["predictor"] for k in names])
    D = np.array([pots[k]["direction"] for k in names])
    theta = np.array([pots[k]["theta"] for k in names])
    # the saved direction is the normalised final theta; for a linear model the predictor
    # cosine on uniform unit-circle probes equals the parameter cosine
    np.testing.assert_allclose(D, theta / np.linalg.norm(theta, axis=1, keepdims=True),
                               rtol=1e-12)
    np.testing.assert_allclose(V @ V.T, lin["cosine"]["matrix"], atol=1e-12)
    np.testing.assert_allclose(D @ D.T, lin["cosine"]["matrix"], atol=1e-12)
    labels = [pots[k]["horizon"] for k in names]
    C = D @ D.T
    same = [C[i, j] for i in range(len(names)) for j in range(i) if labels[i] == labels[j]]
    cross = [C[i, j] for i in range(len(names)) for j in range(i) if labels[i] != labels[j]]
    tol = sec["tolerance"]
    assert min(same) == pytest.approx(lin["same_horizon_min_cosine"], abs=1e-12)
    assert max(cross) == pytest.approx(lin["cross_horizon_max_cosine"], abs=1e-12)
    assert lin["holds"] == (min(same) >= 1 - tol and max(cross) < 1 - tol)
    assert f"same-horizon cos >= {min(same):.4f}" in sec["headline"]     # only one model
    assert sec["holds"] is True      # the paper's claim 1, on the tiny setting


def test_claim1_linear_directions_reach_independent_max_margin(tiny_run) -> None:
    sec = tiny_run[1]["claims"]["claim1"]
    data = two_d(sec["data"]["n"], seed=sec["data"]["seed"])
    lin = sec["models"]["linear"]
    norms = {"l1": 1, "l2": 2, "linf": np.inf}
    for label, saved in lin["max_margin"].items():
        u = _brute_force_max_margin(data.X, data.y, norms[label])
        d = np.asarray(saved["direction"]) / np.linalg.norm(saved["direction"])
        assert d @ u > 1 - 1e-7, label
    for name, res in lin["potentials"].items():
        u = _brute_force_max_margin(data.X, data.y, norms[res["horizon"]])
        cos = float(np.asarray(res["direction"]) @ u)
        assert cos == pytest.approx(res["cosine_to_max_margin"], abs=1e-6)
        assert cos > 1 - sec["tolerance"], name
        assert res["log_t_reached"] == pytest.approx(res["log_t_target"])
        assert res["log_t_target"] <= 55.0 or res["horizon"] != "linf"


def _theory_label(pot: Potential) -> str:
    h = pot.horizon
    return "l1" if h.norm == "l1" else f"l{int(h.p)}"


@pytest.fixture(scope="module")
def two_layer_runs():
    """The quick setting's two-layer net under gradient flow (l2) and hyperbolic entropy (l1)."""
    st = SETTINGS["quick"]
    probs = make_problems(st, "two_layer")
    keep = [spec.name for spec in st.potentials if spec.expr in ("x**2/2",)
            or dict(spec.params).get("b") == 0.1]
    return {k: (probs[k], run_potential(probs[k], st.log_t, st.max_seconds)) for k in keep}


def test_claim1_two_layer_kkt_verdict_follows_the_horizons(two_layer_runs) -> None:
    # the groups come from theory; the verdict must hold with them and flip when swapped
    labels = {k: _theory_label(p.potential) for k, (p, _) in two_layer_runs.items()}
    assert sorted(labels.values()) == ["l1", "l2"]
    tables = {k: kkt_table(p, sol, list(labels.values()))
              for k, (p, sol) in two_layer_runs.items()}
    assert kkt_verdict(tables, labels)["holds"] is True
    swapped = {k: {"l1": "l2", "l2": "l1"}[v] for k, v in labels.items()}
    out = kkt_verdict(tables, swapped)
    assert out["holds"] is False and not any(r["decided"] for r in out["runs"].values())
    # the l2 residual at the end, recomputed by an NNLS from the model's margins (THEORY.md §4)
    for k, (p, sol) in two_layer_runs.items():
        th = np.asarray(sol.theta[-1], dtype=float)
        out_, grads = p.model.outputs_and_grads(th, p.data.X)
        q = p.data.y * out_
        tt = th / q.min() ** (1.0 / p.model.degree)
        out_, grads = p.model.outputs_and_grads(tt, p.data.X)
        J = p.data.y[:, None] * grads
        _, res = nnls(J.T, tt)
        assert res / np.linalg.norm(tt) == pytest.approx(tables[k]["l2"]["eps"], rel=1e-6,
                                                        abs=1e-12)


# ---------------------------------------------------------------- claim 3


def test_claim3_measures_recomputed_from_saved_parameters(tiny_run) -> None:
    sec = tiny_run[1]["claims"]["claim3"]
    for task in sec["tasks"].values():
        m = task["width"]
        for name, res in task["potentials"].items():
            theta = np.asarray(res["theta"])
            d = (theta.size - m) // m
            W, a = theta[: m * d].reshape(m, d), theta[m * d:]
            prod = np.linalg.norm(W, axis=1) * np.abs(a)
            np.testing.assert_allclose(res["neuron_products"], prod, rtol=1e-12)
            assert res["active_neurons"] == pytest.approx(
                np.mean(prod > task["tol"] * prod.max()))
            assert res["participation_ratio"] == pytest.approx(prod.sum() ** 2 / (prod @ prod))
            v = np.abs(W).ravel()
            n = v.size
            hoyer = (np.sqrt(n) - v.sum() / np.sqrt(v @ v)) / (np.sqrt(n) - 1)
            assert res["hoyer"] == pytest.approx(hoyer)
            assert res["fits_data"] and res["min_margin"] > 0, name
        l1 = [r for r in task["potentials"].values() if r["horizon"] == "l1"]
        linf = [r for r in task["potentials"].values() if r["horizon"] == "linf"]
        pf_gap = min(r["participation_ratio"] / m for r in linf) - \
            max(r["participation_ratio"] / m for r in l1)
        hoyer_gap = min(r["hoyer"] for r in l1) - max(r["hoyer"] for r in linf)
        assert task["participation_fraction_gap"] == pytest.approx(pf_gap)
        assert task["hoyer_gap"] == pytest.approx(hoyer_gap)
    assert sec["holds"] is True      # the paper's claim 3, on the tiny setting


# ---------------------------------------------------------------- orchestration


def _fake(holds: bool | None = True, error: Exception | None = None) -> types.ModuleType:
    mod = types.ModuleType("fake_claim")

    def run(quick, out, progress):
        if error is not None:
            raise error
        return {"holds": holds, "criterion": "stand-in", "figures": []}

    mod.run = run
    return mod


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch):
    def install(**modules):
        for name, mod in modules.items():
            monkeypatch.setitem(sys.modules, f"numerics.reproduce.{name}", mod)
    return install


def test_missing_or_failing_claim_is_reported_not_raised(tmp_path, fakes) -> None:
    fakes(claim1=_fake(True), claim2=None, claim3=_fake(error=RuntimeError("boom")))
    summary = run_reproduce(["all"], quick=True, out=tmp_path, progress=False)
    claims = load_summary(tmp_path / "summary.json")["claims"]
    assert claims["claim1"]["holds"] is True
    assert claims["claim2"]["holds"] is False
    assert claims["claim2"]["error"].startswith("ModuleNotFoundError")
    assert claims["claim3"]["error"] == "RuntimeError: boom"
    assert summary["all_hold"] is False


def test_claim_without_boolean_holds_is_an_error(tmp_path, fakes) -> None:
    fakes(claim2=_fake(holds="yes"))        # type: ignore[arg-type]
    claims = run_reproduce(["claim2"], True, tmp_path, progress=False)["claims"]
    assert "boolean 'holds'" in claims["claim2"]["error"]


def test_non_finite_numbers_are_stored_as_strings(tmp_path, fakes) -> None:
    mod = types.ModuleType("fake_claim")
    mod.run = lambda quick, out, progress: {"holds": True, "gap": float("inf"),
                                            "x": [np.float64("nan"), np.int64(3)]}
    fakes(claim2=mod)
    run_reproduce(["claim2"], True, tmp_path, progress=False)
    sec = json.loads((tmp_path / "summary.json").read_text())["claims"]["claim2"]
    assert sec == {"holds": True, "gap": "inf", "x": ["nan", 3]}


def test_corrupt_previous_summary_is_moved_aside(tmp_path, fakes) -> None:
    (tmp_path / "summary.json").write_text('{"format": "mirrorflow-reproduce", "vers')
    fakes(claim2=_fake(True))
    summary = run_reproduce(["claim2"], True, tmp_path, progress=False)
    assert (tmp_path / "summary.json.corrupt").exists()
    assert summary["warnings"] and "invalid JSON" in summary["warnings"][0]
    assert set(load_summary(tmp_path / "summary.json")["claims"]) == {"claim2"}


def test_previous_sections_are_kept_only_for_the_same_mode(tmp_path, fakes) -> None:
    fakes(claim1=_fake(True), claim2=_fake(False))
    run_reproduce(["claim1"], True, tmp_path, progress=False)
    claims = run_reproduce(["claim2"], True, tmp_path, progress=False)["claims"]
    assert claims["claim1"]["from_previous_run"] is True and "from_previous_run" not in \
        claims["claim2"]
    full = run_reproduce(["claim2"], False, tmp_path, progress=False)
    assert set(full["claims"]) == {"claim2"} and "quick" in full["warnings"][0]


# ---------------------------------------------------------------- CLI


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mirrorflow")
    add_reproduce_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_exit_status_is_zero_iff_all_requested_claims_hold(tmp_path, fakes, capsys) -> None:
    fakes(claim1=_fake(True), claim2=_fake(True), claim3=_fake(False))
    out = str(tmp_path / "res")
    assert run_reproduce_cli(_parse(["reproduce", "claim1", "claim2", "--quick", "--out", out,
                                     "--no-progress"])) == 0
    assert run_reproduce_cli(_parse(["reproduce", "--quick", "--out", out,
                                     "--no-progress"])) == 1
    table = capsys.readouterr().out
    assert "claim3   NO" in table and "claim1   yes" in table
    assert load_summary(Path(out) / "summary.json")["requested"] == ["claim1", "claim2", "claim3"]


def test_cli_bad_input(tmp_path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    assert run_reproduce_cli(_parse(["reproduce", "claim1", "--out", str(tmp_path / "file")])) \
        == 2
    assert "is a file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        _parse(["reproduce", "claim7"])
    assert exc.value.code == 2
    assert _parse(["reproduce"]).out == "mirrorflow-results"


@pytest.mark.slow
def test_quick_claims_1_and_3_hold(tmp_path) -> None:
    """The settings behind ``mirrorflow reproduce --quick`` (about a minute on 2 cores)."""
    summary = run_reproduce(["claim1", "claim3"], quick=True, out=tmp_path, progress=False)
    for name in ("claim1", "claim3"):
        sec = summary["claims"][name]
        assert "error" not in sec, sec.get("traceback")
        assert sec["holds"] is True, name
    models = summary["claims"]["claim1"]["models"]
    assert set(models) == {"linear", "two_layer"}
    kkt = models["two_layer"]["kkt"]        # two-layer decided by KKT residuals
    assert models["two_layer"]["holds"] is kkt["holds"] is True
    judged = {r["horizon"] for r in kkt["runs"].values() if r["judged"]}
    assert judged == {"l1", "l2"} and "cosine_holds" in models["two_layer"]
    assert "two-layer KKT" in summary["claims"]["claim1"]["headline"]
    assert len(summary["claims"]["claim3"]["tasks"]) == 2
