"""`mirrorflow integrate`: config validation, JSON summary, plot, saved trajectory."""
import json

import numpy as np
import pytest

from numerics import MirrorFlowSolution, Problem, resume, solve_mirror_flow
from numerics.cli import main

CFG = {"model": {"kind": "linear"}, "potential": "cosh(x)",
       "data": {"X": [[0.6, -0.8]], "y": [1]}, "init": {"theta": [0.05, 0.02]},
       "until": {"log_t": 6}}


def write(tmp_path, cfg):
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps(cfg))
    return str(p)


def test_json_summary_against_closed_form(tmp_path, capsys):
    # one point, linear, cosh: dz/ds = y x (w = 1), so z(s) = sinh(θ0) + s x and the
    # final θ = asinh(z) must be parallel-consistent: z(final) - z(0) is a multiple of x
    out_png, out_run = tmp_path / "run.png", tmp_path / "run.json"
    assert main(["integrate", write(tmp_path, CFG), "--json", "--plot", str(out_png),
                 "--save", str(out_run)]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["status"] == "reached" and rep["log_t"] == pytest.approx(6)
    theta = np.array([float(v) for v in rep["theta"]])
    dz = np.sinh(theta) - np.sinh([0.05, 0.02])
    x = np.array([0.6, -0.8])
    assert np.allclose(dz / np.linalg.norm(dz), x / np.linalg.norm(x), atol=1e-9)
    assert rep["digits"]["direction"] > 8
    assert out_png.stat().st_size > 10_000
    assert MirrorFlowSolution.load(out_run).status == "reached"


@pytest.mark.parametrize("patch, field", [
    ({"model": {"kind": "cnn"}}, "model.kind"),
    ({"model": {"kind": "two_layer", "width": -3}}, "model.width"),
    ({"potential": "x**2 - x**4"}, "potential"),
    ({"loss": "hinge"}, "loss"),
    ({"until": {"log_t": -1}}, "until.log_t"),
    ({"init": {"theta": [1.0]}}, "init.theta"),
    ({"precision": {"dps": 2}}, "precision.dps"),
    ({"data": {"kind": "moons"}}, "data.kind"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_config_names_the_field(tmp_path, capsys, patch, field):
    assert main(["integrate", write(tmp_path, {**CFG, **patch})]) == 2
    err = capsys.readouterr().err.strip()
    assert f"error: {field}" in err and len(err.splitlines()) == 1


def test_resume_continues_the_same_trajectory():
    from numerics._config import parse_config
    prob: Problem = parse_config(CFG).problem
    whole = solve_mirror_flow(prob, log_t=12.0, certify=False)
    part = resume(solve_mirror_flow(prob, log_t=6.0, certify=False), prob, log_t=12.0)
    np.testing.assert_allclose(part.theta[-1], whole.theta[-1], rtol=1e-8)
