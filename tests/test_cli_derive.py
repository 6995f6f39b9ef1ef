"""`mirrorflow derive`: JSON contract, digits of --invert, and one-line errors."""
import json
import subprocess
import sys

import mpmath
import pytest
import sympy as sp

from numerics.cli import main


def run(*args):
    proc = subprocess.run([sys.executable, "-m", "numerics.cli", *args],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_json_hyperbolic_entropy(capsys):
    assert main(["derive", "x*asinh(x/b) - sqrt(x**2+b**2)", "--param", "b=0.1", "--json",
                 "--invert", "2.5", "--dps", "45"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["horizon"]["norm"] == "l1" and rep["horizon"]["p"] == 1
    assert rep["rates"]["regime"] == "polylog-corrected 1/t"
    with mpmath.workdps(60):
        exact = mpmath.sinh(mpmath.mpf("2.5")) / 10      # (f')^-1(z) = b sinh z
        got = mpmath.mpf(rep["inverse_at"])
        assert abs(got - exact) < mpmath.mpf(10) ** -44 * exact
    assert len(rep["inverse_at"].replace(".", "").lstrip("0")) >= 45
    for key in ("mirror_map", "inverse_mirror_map", "conjugate", "balance_function"):
        assert key in rep


def test_json_beyond_table_no_closed_form_inverse(capsys):
    # x^2/2 + |x|^3/3: f' = x + x|x|, inverse (-1 + sqrt(1 + 4z))/2 for z > 0 (by hand)
    assert main(["derive", "x**2/2 + abs(x)**3/3", "--json", "--invert", "3", "--dps",
                 "50"]) == 0
    rep = json.loads(capsys.readouterr().out)
    # the closed form sign(z) (sqrt(1 + 4|z|) - 1)/2 cancels near 0; its rationalized form
    # 2z / (sqrt(1 + 4|z|) + 1) does not, and is the one shown and used
    assert rep["inverse_method"] == "symbolic"
    with mpmath.workdps(60):
        z = mpmath.mpf("1e-30")
        inv = sp.lambdify(sp.Symbol("z", real=True), sp.sympify(rep["inverse_mirror_map"]),
                          "mpmath")
        assert abs(inv(z) - 2 * z / (1 + mpmath.sqrt(1 + 4 * z))) < mpmath.mpf(10) ** -55 * z
    assert rep["horizon"]["norm"] == "lp" and rep["horizon"]["p"] == 3
    with mpmath.workdps(70):
        exact = (-1 + mpmath.sqrt(13)) / 2
        assert abs(mpmath.mpf(rep["inverse_at"]) - exact) < mpmath.mpf(10) ** -49


def test_json_asymmetric_one_sided(capsys):
    assert main(["derive", "x**2 + exp(x)", "--json"]) == 0
    h = json.loads(capsys.readouterr().out)["horizon"]
    assert h["norm"] == "one-sided" and h["positive_index"] == "inf"
    assert h["negative_index"] == 2


def test_human_output_and_latex(capsys):
    assert main(["derive", "cosh(x)", "--depth", "2"]) == 0
    out = capsys.readouterr().out
    assert "horizon: linf" in out and "inverse map" in out
    assert main(["derive", "cosh(x)", "--latex"]) == 0
    assert r"\sqrt{z^{2} + 1}" in capsys.readouterr().out


@pytest.mark.parametrize("args, needle", [
    (["derive", "x**2 - x**4"], "not convex"),
    (["derive", "x**2 + c*x"], "unknown symbol"),
    (["derive", "x**2 + abs(x)"], "not differentiable"),
    (["derive", "x**2", "--param", "b"], "NAME=VALUE"),
    (["derive", "x**2", "--dps", "0"], "--dps"),
    (["derive", "sqrt(1+x**2)"], "range is not all of R"),
])
def test_errors_are_one_line_without_traceback(args, needle):
    code, out, err = run(*args)
    assert code != 0 and out == ""
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
