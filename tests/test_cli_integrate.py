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


@pytest.mark.parametrize("method, expected", [("auto", "taylor"), ("radau", "radau")])
def test_json_summary_high_precision_against_closed_form(tmp_path, capsys, method, expected):
    """The same one-point cosh run at 40 digits: θ comes back as 40-digit strings, and
    z(final) - z(0) = s x holds to ~38 digits (independent mpmath arithmetic); the
    integrator's log t is checked by quadrature: t = ∫_0^s exp(x·asinh(sinh θ0 + σ x)) dσ.
    Both methods: "auto" takes Taylor for this short l_inf run (log t = 6 is below
    LINF_TAYLOR_BELOW["linear"]: a few Taylor steps), Radau IIA when asked for."""
    import mpmath

    cfg = {**CFG, "precision": {"dps": 40, "method": method}}
    assert main(["integrate", write(tmp_path, cfg), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["status"] == "reached" and rep["method"].startswith(expected)
    assert rep["digits"]["direction"] > 38
    with mpmath.workdps(60):
        theta = [mpmath.mpf(v) for v in rep["theta"]]
        assert all(len(v.replace("-", "").replace(".", "").lstrip("0")) >= 40
                   for v in rep["theta"])
        x = [mpmath.mpf(0.6), mpmath.mpf(-0.8)]          # the data are float64 values
        th0 = [mpmath.mpf(0.05), mpmath.mpf(0.02)]
        dz = [mpmath.sinh(a) - mpmath.sinh(b) for a, b in zip(theta, th0, strict=True)]
        s = dz[0] / x[0]
        assert abs(dz[1] - s * x[1]) / abs(dz[1]) < mpmath.mpf(10) ** -37
        t = mpmath.quad(lambda sig: mpmath.exp(mpmath.fsum(
            xi * mpmath.asinh(mpmath.sinh(ti) + sig * xi) for xi, ti in zip(x, th0, strict=True))),
            [0, s])
        assert abs(mpmath.log(t) - 6) < mpmath.mpf(10) ** -30


@pytest.mark.parametrize("patch, field", [
    ({"model": {"kind": "cnn"}}, "model.kind"),
    ({"model": {"kind": "two_layer", "width": -3}}, "model.width"),
    ({"potential": "x**2 - x**4"}, "potential"),
    ({"loss": "hinge"}, "loss"),
    ({"until": {"log_t": -1}}, "until.log_t"),
    ({"init": {"theta": [1.0]}}, "init.theta"),
    ({"precision": {"dps": 2}}, "precision.dps"),
    ({"precision": {"dps": 30, "method": "euler"}}, "precision.method"),
    ({"precision": {"dps": 30, "tol": 1e-9}}, "precision"),
    ({"data": {"kind": "moons"}}, "data.kind"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_config_names_the_field(tmp_path, capsys, patch, field):
    assert main(["integrate", write(tmp_path, {**CFG, **patch})]) == 2
    err = capsys.readouterr().err.strip()
    assert f"error: {field}" in err and len(err.splitlines()) == 1


def test_precision_method_chooses_the_integrator(tmp_path, capsys):
    """precision.method overrides "auto" (Radau for cosh); the two independent integrators
    (explicit Taylor, implicit Radau IIA) agree to 28 digits."""
    import mpmath

    out = {}
    for method in ("taylor", "radau"):
        cfg = {**CFG, "until": {"log_t": 3}, "precision": {"dps": 30, "method": method}}
        assert main(["integrate", write(tmp_path, cfg), "--json"]) == 0
        out[method] = json.loads(capsys.readouterr().out)
        assert out[method]["method"].startswith(method)
    with mpmath.workdps(40):
        a = [mpmath.mpf(v) for v in out["taylor"]["theta"]]
        b = [mpmath.mpf(v) for v in out["radau"]["theta"]]
        assert max(abs(u - v) for u, v in zip(a, b, strict=True)) < mpmath.mpf(10) ** -28


def test_resume_continues_the_same_trajectory():
    from numerics.problem import parse_config
    prob: Problem = parse_config(CFG).problem
    whole = solve_mirror_flow(prob, log_t=12.0, certify=False)
    part = resume(solve_mirror_flow(prob, log_t=6.0, certify=False), prob, log_t=12.0)
    np.testing.assert_allclose(part.theta[-1], whole.theta[-1], rtol=1e-8)


def test_resume_continues_a_saved_high_precision_run(tmp_path, capsys):
    """integrate --save, then --resume with a later until.log_t: the result equals one
    uninterrupted run (same digits); a different config is refused by name."""
    import mpmath

    cfg = {**CFG, "precision": {"dps": 30}, "until": {"log_t": 3}}
    run = tmp_path / "run.json"
    assert main(["integrate", write(tmp_path, cfg), "--save", str(run), "--json"]) == 0
    capsys.readouterr()
    later = {**cfg, "until": {"log_t": 6}}
    assert main(["integrate", write(tmp_path, later), "--save", str(run), "--resume",
                 "--json"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert main(["integrate", write(tmp_path, later), "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert resumed["log_t"] == pytest.approx(6)
    with mpmath.workdps(40):
        a = [mpmath.mpf(v) for v in resumed["theta"]]
        b = [mpmath.mpf(v) for v in whole["theta"]]
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < mpmath.mpf(10) ** -28
    other = {**later, "potential": "x**2/2"}
    assert main(["integrate", write(tmp_path, other), "--save", str(run), "--resume"]) == 2
    assert "different configuration" in capsys.readouterr().err


NET = {"model": {"kind": "two_layer", "width": 4, "activation": "square_relu"},
       "potential": "x*asinh(x/b) - sqrt(x**2 + b**2)", "params": {"b": 0.1},
       "data": {"kind": "separable_gaussian", "n": 6, "d": 3, "seed": 2},
       "init": {"scale": 0.5, "seed": 1}, "until": {"log_t": 1e6},
       "precision": {"dps": 30, "method": "taylor"}}   # auto picks Radau for 1e6: 3x slower


def test_ctrl_c_saves_what_was_computed_and_the_run_resumes(tmp_path):
    """SIGINT during a 30-digit run: exit 130, the trajectory up to the last completed step is
    saved, and resuming it reaches the same state as one uninterrupted run (28 digits)."""
    import signal
    import subprocess
    import sys
    import time

    import mpmath

    from numerics.problem import parse_config

    cfg, run = write(tmp_path, NET), tmp_path / "run.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from numerics.cli import main; "
         f"sys.exit(main(['integrate', {cfg!r}, '--save', {str(run)!r}, "
         "'--checkpoint-every', '0.5']))"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300    # a loaded machine: wait for the first checkpoint
    while not run.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)                      # some steps after the first checkpoint
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted at log t" in err and "--resume" in err
    saved = MirrorFlowSolution.load(run)
    assert saved.status == "interrupted"
    stop = float(saved.log_t[-1])
    assert -1e3 < stop < 1e6     # the interrupt may come before log t = 0 on a loaded machine
    prob = parse_config(NET).problem
    target = stop + 5.0
    resumed = resume(saved, prob, log_t=target)
    whole = solve_mirror_flow(prob, log_t=target, dps=30, method="taylor", certify=False)
    assert resumed.status == whole.status == "reached"
    with mpmath.workdps(40):
        err_max = max(abs(a - b) for a, b in zip(resumed.theta_mp[-1], whole.theta_mp[-1],
                                                 strict=True))
        scale = max(abs(b) for b in whole.theta_mp[-1])
        assert err_max / scale < mpmath.mpf(10) ** -28
