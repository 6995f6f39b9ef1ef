"""`mirrorflow integrate --json` reports the KKT residuals of the derived horizon's margin
problem (THEORY.md §4) at the final point; an independent NNLS from the returned θ gives the
same ε, δ and λ (issue 11: "ε and δ that an independent NNLS computation reproduces")."""

from __future__ import annotations

import json

import numpy as np
from scipy.optimize import nnls

from numerics.cli import main
from numerics.problem import parse_config

CONFIG = {"model": {"kind": "two_layer", "width": 4, "activation": "square_relu"},
          "potential": "x**2/2 + abs(x)**3/3", "loss": "exp",
          "data": {"kind": "separable_gaussian", "n": 6, "d": 3, "seed": 2},
          "init": {"scale": 0.5, "seed": 1}, "until": {"log_t": 20}}


def test_integrate_json_kkt_matches_an_independent_nnls(tmp_path, capsys) -> None:
    cfg_path = tmp_path / "run.json"
    cfg_path.write_text(json.dumps(CONFIG))
    assert main(["integrate", str(cfg_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    k = report["kkt"]
    assert k["horizon"] == "l3"                  # x²/2 + |x|³/3 grows like |x|³: l3 (§3)
    prob = parse_config(CONFIG).problem
    theta = np.array([float(v) for v in report["theta"]])
    X, y, L = prob.data.X, prob.data.y, prob.model.degree
    q = y * prob.model.outputs(theta, X)
    tt = theta / q.min() ** (1.0 / L)                      # min_i q_i(θ̃) = 1
    out, grads = prob.model.outputs_and_grads(tt, X)
    J = y[:, None] * np.asarray(grads)                     # ∇q_i(θ̃)
    grad_G = np.sign(tt) * np.abs(tt) ** 2                 # ∇ Σ|θ|³/3
    lam, resid = nnls(J.T, grad_G)
    eps = resid / np.linalg.norm(grad_G)
    delta = float(lam @ (y * out - 1.0))
    assert abs(k["stationarity"] - eps) <= 1e-8 * max(1.0, eps)
    assert abs(k["complementarity"] - delta) <= 1e-6 * max(1.0, abs(delta))
    np.testing.assert_allclose(k["multipliers"], lam, rtol=1e-6, atol=1e-9)
