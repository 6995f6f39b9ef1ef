"""Fuzzing the command line (issue #12): whatever the input, ``mirrorflow`` answers with an exit
status it documents, at most one line on stderr, never a traceback or an "internal error", and a
refusal leaves every existing file as it was.

Three input families, each driven in-process through :func:`numerics.cli.main` (fast) with a
small default budget; the ``slow`` variants (``-m slow``) run many more examples:

* JSON configurations mutated from valid ones (deleted keys, wrong types, NaN / inf / huge
  numbers as JSON numbers or strings, garbage strings, nested garbage, truncated JSON text)
  through ``mirrorflow integrate CONFIG.json --json``: exit status 0, 2 or 3;
* expressions from a small grammar (with parameters, junk characters and unbalanced
  parentheses) through ``mirrorflow derive``: exit status 0 or 2 (3 only for --timeout);
* random bytes, truncations and mutations of a real saved run as ``--save RUN.json --resume``:
  exit status 0, 2 or 3, and a changed file is refused and left byte-identical.

Two subprocess checks make sure the same holds for ``python -m numerics.cli``.
"""
from __future__ import annotations

import contextlib
import gc
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from numerics.cli import main
from numerics.solvers._solution import content_digest

ROOT = Path(__file__).resolve().parents[1]
FAST = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))

#: Valid, cheap configurations (float64, one or two samples, small log t).
BASES = {
    "linear": {"model": {"kind": "linear"}, "potential": "x**2/2", "params": {},
               "data": {"X": [[0.6, -0.8]], "y": [1]}, "init": {"theta": [0.05, 0.02]},
               "until": {"log_t": 2}, "loss": "exp"},
    "diagonal": {"model": {"kind": "diagonal", "depth": 2}, "potential": "x**2/2",
                 "data": {"X": [[0.6, -0.8]], "y": [1]}, "init": {"scale": 0.1, "seed": 1},
                 "until": {"log_t": 2}},
}
#: Heavier valid configurations, fuzzed by the slow variant only.
SLOW_BASES = {
    "hyperbolic": {**BASES["linear"], "potential": "x*asinh(x/b) - sqrt(x**2+b**2)",
                   "params": {"b": 0.5}},
    "two_layer": {"model": {"kind": "two_layer", "width": 2, "activation": "relu"},
                  "potential": "x**2/2", "data": {"X": [[1.0, 0.5], [-0.5, -1.0]],
                                                  "y": [1, -1]},
                  "init": {"scale": 0.1, "seed": 0}, "until": {"log_t": 2}},
    "precise": {**BASES["linear"], "precision": {"dps": 20}},
}

# JSON text that json.dumps cannot write: spliced in for these placeholder strings
RAW = {"@RAW_1e400@": "1e400", "@RAW_-1e400@": "-1e400", "@RAW_BIGINT@": "1" + "0" * 5000,
       "@RAW_NEG0@": "-0", "@RAW_1E-400@": "1E-400"}
NUMBERS = [0, -1, 1, 2, 3, 0.5, -0.0, 1e-300, 1e300, 1.7976931348623157e308, 10**20, 2**63,
           -(2**63), math.nan, math.inf, -math.inf]
STRINGS = ["", " ", "nan", "inf", "-inf", "1e400", "0", "-1", "x**2", "cosh(x)", "9**9**9",
           "((", "x*asinh(x/b) - sqrt(x**2+b**2)", "exit()", "\u00e9\u221e\x00", "null",
           "linear", "two_layer", "relu", "taylor", "radau", "auto", "exp", "logistic"]
# hypothesis draws early alternatives (and first elements) most often: order by interest
scalars = st.one_of(st.sampled_from(NUMBERS), st.sampled_from(STRINGS),
                    st.sampled_from(sorted(RAW)), st.none(), st.booleans(),
                    st.text(max_size=12))
garbage = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)


#: Warnings Python does not print by default (outside __main__); any other warning would
#: reach a user's stderr, so it counts as a line of stderr here.
SILENT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
#: Tolerances for known bugs (each with its own test below), kept as switches so that a bug
#: found later can be tolerated while it is tracked; all off: the four bugs the fuzzer found
#: (warnings on stderr, arithmetic errors in the summary, forged and undigested files) are fixed.
#: RuntimeWarnings (overflow, division by zero) of numpy / scipy / numerics reach stderr on
#: extreme data or init scales: test_extreme_values_warnings_reach_stderr.
TOLERATE_RUNTIME_WARNINGS = False
#: The summary of a finished run (q_margin, kkt) divides by zero or overflows on extreme data
#: or init scales; the CLI then exits 2 with "float division by zero" / "Numerical result out
#: of range" after --save was written: test_summary_arithmetic_error.
TOLERATE_SUMMARY_ARITHMETIC: tuple[str, ...] = ()
#: A results file whose digest matches but whose structure is malformed crashes --resume
#: (internal error) or puts NaN in --json: test_forged_results_file_is_refused.
TOLERATE_FORGED_FILES = False


def _counted(w: warnings.WarningMessage) -> bool:
    if issubclass(w.category, SILENT):
        return False
    return not (TOLERATE_RUNTIME_WARNINGS and issubclass(w.category, RuntimeWarning))


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` in-process: (exit status, stdout, stderr); argparse exits count, and so
    do the warnings a user would see (pytest would otherwise swallow them)."""
    out, err = io.StringIO(), io.StringIO()
    # hypothesis times garbage collection with a gc callback; a --timeout signal landing in
    # it would be printed as "Exception ignored in ..." (the real CLI has no gc callbacks)
    callbacks, gc.callbacks[:] = gc.callbacks[:], []
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                code = main(argv)
            except SystemExit as exc:          # argparse: one line, status 2
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        gc.callbacks[:] = callbacks
    shown = "".join(f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}\n"
                    for w in caught if _counted(w))
    return code, out.getvalue(), shown + err.getvalue()


def _not_json(constant: str):
    raise AssertionError(f"--json printed {constant}, which is not JSON")


def assert_clean(code: int, out: str, err: str, allowed: set[int], *, json_out: bool) -> None:
    """The shared property: a documented status, no traceback, and one-line errors."""
    where = f"exit {code}; stderr={err[:1500]!r}; stdout={out[:300]!r}"
    assert code in allowed, where
    for text in (out, err):
        assert "Traceback" not in text and "internal error" not in text, where
    lines = err.strip().splitlines()
    if code == 2 or json_out:
        assert len(lines) <= 1, where
    if code == 2:
        assert len(lines) == 1 and out == "", where
    if code in (0, 3) and json_out and out:
        json.loads(out, parse_constant=_not_json)      # strict JSON: no NaN / Infinity


# ------------------------------------------------------------------------ files
def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def paths(value, prefix=()):
    """Every path (tuple of keys / indices) into a JSON value, the root included."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, (*prefix, i))


def apply(value, path, op, new):
    """A copy of ``value`` with the node at ``path`` deleted / replaced / given a new key."""
    if not path:
        return new if op != "wrap" else [value]
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        value = dict(value)
        if not rest and op == "delete":
            value.pop(head, None)
        else:
            value[head] = apply(value[head], rest, op, new)
    else:
        value = list(value)
        if not rest and op == "delete":
            del value[head]
        else:
            value[head] = apply(value[head], rest, op, new)
    return value


@st.composite
def mutants(draw, value, n_max=3):
    """``value`` after 1..n_max random structural mutations."""
    rnd = draw(st.randoms(use_true_random=False))   # uniform over paths (sampled_from is not)
    for _ in range(draw(st.integers(1, n_max))):
        every = list(paths(value))
        path = rnd.choice(every[1:] or every)
        op = rnd.choice(["replace", "replace", "number", "number", "delete", "add_key", "wrap"])
        node = value
        for key in path:
            node = node[key]
        if op == "number":                    # a still well-typed but extreme number
            if isinstance(node, bool) or not isinstance(node, int | float):
                continue
            scale = rnd.choice([1e-300, 1e-30, 1e-3, -1, 0, 1e3, 1e30, 1e300])
            new = node * scale if isinstance(node, float) or abs(scale) >= 1 else scale
            if isinstance(node, int) and abs(scale) >= 1:
                new = int(node * scale) if abs(node * scale) < 2**64 else node * scale
            value = apply(value, path, "replace", new)
            continue
        if op == "add_key":
            if isinstance(node, dict):
                key = draw(st.one_of(st.sampled_from(
                    ["kind", "log_t", "dps", "theta", "b", "scale", "seed", "X", "y"]),
                    st.text(max_size=8)))
                value = apply(value, path, "replace", {**node, key: draw(garbage)})
            continue
        value = apply(value, path, op, draw(garbage) if op == "replace" else None)
    return value


def to_json_text(value) -> str:
    text = json.dumps(value)
    for placeholder, raw in RAW.items():
        text = text.replace(json.dumps(placeholder), raw)
    return text


@st.composite
def config_texts(draw, bases):
    base = bases[draw(st.sampled_from(sorted(bases)))]
    kind = draw(st.sampled_from(["mutant", "mutant", "mutant", "truncated", "valid"]))
    if kind == "valid":
        return to_json_text(base)
    if kind == "truncated":
        text = to_json_text(base)
        return text[:draw(st.integers(0, len(text) - 1))]
    return to_json_text(draw(mutants(base)))


def check_integrate(text: str, max_seconds: str, extra=()) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "cfg.json").write_text(text)
        (folder / "sentinel.txt").write_bytes(b"keep me\n")
        before = snapshot(folder)
        argv = ["integrate", str(folder / "cfg.json"), "--max-seconds", max_seconds, "--json",
                "--save", str(folder / "run.json"), *extra]
        code, out, err = run_cli(argv)
        assert_clean(code, out, err, {0, 2, 3}, json_out=True)
        after = snapshot(folder)
        if code == 2 and not any(text in err for text in TOLERATE_SUMMARY_ARITHMETIC):
            assert after == before, f"a refusal changed files: {err!r}"
        else:
            assert {k: after[k] for k in before} == before, "an input file changed"


@FAST
@given(text=config_texts(BASES))
@example(text=to_json_text({**BASES["linear"], "until": {"log_t": "@RAW_1e400@"}}))
@example(text=to_json_text({**BASES["linear"], "params": {"b": "@RAW_BIGINT@"}}))
@example(text=to_json_text({**BASES["linear"], "potential": "x*asinh(x/b) - sqrt(x**2+b**2)",
                            "params": {"b": 0}}))
@example(text='{"model": {"kind": "linear"}, "potential": "x**2/2", "data": {"X": [[NaN, 1]]')
# a run that fails at its start has log t = -inf, which --json printed as -Infinity (not JSON)
@example(text=to_json_text({"model": {"kind": "linear"}, "potential": "x**2/2",
                            "data": {"X": [[0.6, -0.8]], "y": [1]},
                            "init": {"theta": [5.0000000000000005e+28, 0.02]},
                            "until": {"log_t": 2}, "loss": "exp"}))
def test_fuzz_integrate_config(text):
    check_integrate(text, "1")


@pytest.mark.slow
@SLOW
@given(text=config_texts({**BASES, **SLOW_BASES}))
def test_fuzz_integrate_config_slow(text):
    check_integrate(text, "5")


# ----------------------------------------------------------------------- derive
NUMS = ["0", "1", "2", "3", "-1", "-2", "0.5", "1/2", "1e-3", "10", "100", "1e300", "1e400",
        "1e-400", "pi", "E", "I", "oo", "nan", "zoo"]
FUNCS = ["abs", "exp", "log", "sqrt", "cosh", "sinh", "asinh", "sign", "-", "", "atan", "tanh",
         "LambertW", "erf", "Heaviside", "floor", "gamma", "factorial", "re", "conjugate",
         "cbrt", "DiracDelta", "acosh", "besselj(0, x)*"]
JUNK = ["(", ")", "((", "λ", "∞", "\x00", "²", "（", "#", "\\", "'", '"', ";", "=", "lambda",
        "__import__", "**", ",", "..", "x x", "Piecewise((x, x > 0)", "Max(", "\n", "𝑥"]
leaves = st.sampled_from(["x"] * 6 + NUMS + ["b", "c"])


def _grow(children):
    return st.one_of(
        st.tuples(st.sampled_from(FUNCS), children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(children, st.sampled_from(["+", "-", "*", "/", "**"]), children).map(
            lambda t: f"({t[0]}){t[1]}({t[2]})"),
        st.tuples(children, children).map(lambda t: f"Max({t[0]}, {t[1]})"),
        st.tuples(children, children).map(lambda t: f"Piecewise(({t[0]}, x > 0), ({t[1]}, True))"),
    )


grammar = st.recursive(leaves, _grow, max_leaves=5)


@st.composite
def derive_argvs(draw):
    expr = draw(st.sampled_from(["", "", "x**2/2 + ", "cosh(x) + "])) + draw(grammar)
    damage = draw(st.sampled_from(["none", "none", "none", "drop", "insert", "unicode"]))
    if damage == "drop" and expr:
        i = draw(st.integers(0, len(expr) - 1))
        expr = expr[:i] + expr[i + 1:]
    elif damage == "insert":
        i = draw(st.integers(0, len(expr)))
        expr = expr[:i] + draw(st.sampled_from(JUNK)) + expr[i:]
    elif damage == "unicode":
        expr += draw(st.text(max_size=4))
    argv = ["derive"]
    values = ["1", "0", "-1", "0.1", "-0.5", "2", "1e-300", "1e300", "nan", "inf", "abc", "",
              "1/3", "pi", "I", "9**9**9", "1e999999", "x"]
    # hypothesis draws the first choice of a sampled_from most often: list the usual one first
    names = [n for n in ("b", "c") if n in expr and draw(st.sampled_from([True, False]))]
    if draw(st.sampled_from([False, False, True])):
        names.append(draw(st.sampled_from(["d", "x", "b=1", "", "b"])))
    for name in names:
        argv.append(f"--param={name}={draw(st.sampled_from(values))}")
    options = {      # (valid values, invalid values)
        "--depth": (["1", "2", "3", "1000"], ["0", "1001", "-1", "1.5", "x"]),
        "--dim": (["1", "2", "5"], ["0", "1001", "-3", "nan"]),
        "--invert": (["2.5", "0", "-1e3", "1e-400", "1e308", " 1 ", "-7.25"],
                     ["nan", "inf", "-inf", "1e400", "abc", ""]),
        "--dps": (["1", "30", "200"], ["0", "10001", "-5", "1e3"]),
    }
    for opt, (valid, invalid) in options.items():
        if draw(st.sampled_from([False, False, False, True])):
            bad = draw(st.sampled_from([False, False, True]))
            argv.append(f"{opt}={draw(st.sampled_from(invalid if bad else valid))}")
    argv += draw(st.sampled_from([[], ["--json"], ["--latex"]]))
    return [*argv, "--timeout=3", "--", expr]


def check_derive(argv: list[str]) -> None:
    code, out, err = run_cli(argv)
    json_out = "--json" in argv
    assert_clean(code, out, err, {0, 2, 3}, json_out=json_out)
    if code == 3:
        assert "--timeout" in err and len(err.strip().splitlines()) == 1, err


@FAST
@given(argv=derive_argvs())
@example(argv=["derive", "--param", "b=0", "x*asinh(x/b) - sqrt(x**2+b**2)"])
@example(argv=["derive", "--invert=nan", "cosh(x)"])
@example(argv=["derive", "--invert=1e400", "x**2/2"])
@example(argv=["derive", "--dim=100000", "x**2/2"])
@example(argv=["derive", "--", "exp(exp(exp(x)))"])
@example(argv=["derive", "--", "x**2 + 9**9**9"])
@example(argv=["derive", "--", "x**2 + floor(x)"])
@example(argv=["derive", "--", "x**2/0"])
@example(argv=["derive", "--timeout=3", "--", "x**2/2 + ()**(0)"])  # was an internal error
def test_fuzz_derive(argv):
    check_derive(argv)


@pytest.mark.slow
@SLOW
@given(argv=derive_argvs())
def test_fuzz_derive_slow(argv):
    check_derive(argv)


@pytest.mark.parametrize("expr", [
    " + ".join(f"x**2/{k}" for k in range(1, 1200)) + " + y",       # 10 kB, unknown symbol
    "x**2 + (" * 1200 + "x",                                         # unbalanced
    " + ".join(["x**2"] * 2000) + " - 3000*x**2",                    # not convex
], ids=["unknown-symbol", "unbalanced", "not-convex"])
def test_long_expression_error_is_cut(expr):
    from theory import Potential

    code, _, err = run_cli(["derive", "--", expr])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert len(err) < 700, len(err)
    with pytest.raises(ValueError) as info:           # theory itself shortens what it quotes
        Potential(expr)
    assert len(str(info.value)) < 800, len(str(info.value))


@pytest.mark.parametrize("expr, params, needle", [
    ("x*asinh(x/b) - sqrt(x**2+b**2)", {"b": 0}, "b = 0 makes x/b undefined: use b > 0"),
    ("sqrt(x**2 + b)", {"b": -1}, "b = -1 makes sqrt(b + x**2) undefined at x = 0.0"),
    ("x**2/2 + log(c)*x", {"c": 0}, "c = 0 makes x*log(c) undefined"),
])
def test_parameter_values_are_refused_by_name(expr, params, needle):
    from theory import InvalidPotentialError, Potential

    with pytest.raises(InvalidPotentialError) as info:
        Potential(expr, **params)
    assert needle in str(info.value)
    with pytest.raises(ValueError, match="b > 0"):
        Potential.hyperbolic_entropy(0)


# ----------------------------------------------------------------------- resume
@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A real saved run (and its config) to corrupt."""
    folder = tmp_path_factory.mktemp("saved")
    cfg = folder / "cfg.json"
    cfg.write_text(json.dumps(BASES["linear"]))
    code, _, err = run_cli(["integrate", str(cfg), "--json", "--save",
                              str(folder / "run.json")])
    assert code == 0, err
    return cfg.read_text(), (folder / "run.json").read_bytes()


def _resigned(record: dict) -> dict:
    return {**record, "digest": content_digest(record)}


@st.composite
def corrupted(draw, original: bytes):
    kind = draw(st.sampled_from(["bytes", "truncate", "flip", "json", "json", "resigned"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "truncate":
        return original[:draw(st.integers(0, len(original) - 1))]
    if kind == "flip":
        i = draw(st.integers(0, len(original) - 1))
        return original[:i] + bytes([draw(st.integers(0, 255))]) + original[i + 1:]
    record = json.loads(original)
    mutated = draw(mutants(record, n_max=2))
    if kind == "resigned" and isinstance(mutated, dict):
        mutated = _resigned(mutated)     # a forged file whose digest matches its content
    return to_json_text(mutated).encode()


def check_resume(config: str, original: bytes, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "cfg.json").write_text(config)
        (folder / "run.json").write_bytes(data)
        before = snapshot(folder)
        code, out, err = run_cli(["integrate", str(folder / "cfg.json"), "--save",
                                  str(folder / "run.json"), "--resume", "--json",
                                  "--max-seconds", "2"])
        try:
            same = json.loads(data) == json.loads(original)
        except (ValueError, UnicodeDecodeError):
            same = False
        record = _record(data)
        resigned = record is not None and record.get("digest") == content_digest(record)
        forged = resigned and not same and TOLERATE_FORGED_FILES
        if not (forged and (code == 1 or "NaN" in out or "Infinity" in out)):
            assert_clean(code, out, err, {0, 2, 3}, json_out=True)
        assert snapshot(folder) == before, f"exit {code} changed a file: {err!r}"
        # a file claiming format version 1 has no digest to check: the known bug of
        # test_resume_refuses_an_undigested_edited_file
        undigested = record is not None and record.get("version") == 1
        if not (same or resigned or undigested):
            assert code == 2, f"a changed results file was accepted (exit {code})"


def _record(data: bytes) -> dict | None:
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


@FAST
@given(data=st.data())
def test_fuzz_resume_file(saved_run, data):
    config, original = saved_run
    check_resume(config, original, data.draw(corrupted(original)))


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_fuzz_resume_file_slow(saved_run, data):
    config, original = saved_run
    check_resume(config, original, data.draw(corrupted(original)))


def test_resume_refuses_an_undigested_edited_file(saved_run):
    config, original = saved_run
    record = json.loads(original)
    record["version"] = 1
    del record["digest"]
    record["arrays"]["theta"][-1] = ["123.0", "-456.0"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "cfg.json").write_text(config)
        (folder / "run.json").write_text(json.dumps(record))
        code, out, err = run_cli(["integrate", str(folder / "cfg.json"), "--save",
                                  str(folder / "run.json"), "--resume", "--json"])
    assert code == 2 and "123.0" not in out, (code, err)


@pytest.mark.parametrize("patch", [
    {"data": {"X": [[6e29, -0.8]], "y": [1]}},
    {"model": {"kind": "diagonal", "depth": 2}, "init": {"scale": 0.1, "seed": 1},
     "data": {"X": [[6e29, -0.8]], "y": [1]}},
    {"model": {"kind": "diagonal", "depth": 2}, "init": {"scale": 1e-300, "seed": 1}},
    {"model": {"kind": "diagonal", "depth": 2}, "init": {"scale": 1e300, "seed": 1}},
], ids=["linear-X6e29", "diagonal-X6e29", "diagonal-scale1e-300", "diagonal-scale1e300"])
def test_extreme_values_warnings_reach_stderr(tmp_path, patch):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**BASES["linear"], **patch}))
    proc = run_module("integrate", str(cfg), "--json", "--max-seconds", "2", cwd=tmp_path)
    assert proc.returncode in (0, 2, 3)
    assert len(proc.stderr.strip().splitlines()) <= 1, proc.stderr


@pytest.mark.parametrize("cfg", [
    {**BASES["linear"], "data": {"X": [[1e300, -0.8]], "y": [1]}},
    {**SLOW_BASES["two_layer"], "init": {"scale": 1e-300, "seed": 0}},
    {**SLOW_BASES["two_layer"], "init": {"scale": 1e300, "seed": 0}},
], ids=["kkt-X1e300", "q_margin-scale1e-300", "q_margin-scale1e300"])
def test_summary_arithmetic_error(tmp_path, cfg):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    code, _, err = run_cli(["integrate", str(path), "--json", "--max-seconds", "2"])
    # 4: a net at init scale 1e-300 has every output 0 in float64 (stuck, named)
    assert code in (0, 3, 4) and "Traceback" not in err, (code, err)


@pytest.mark.parametrize("path, value", [
    (("arrays",), 0), (("meta",), None), (("arrays", "log_t"), []),
    (("arrays", "log_t"), [[1.0, 2.0]]), (("arrays", "theta"), [1, 2]), (("method",), math.nan),
], ids=["arrays-0", "meta-null", "log_t-empty", "log_t-2d", "theta-1d", "method-nan"])
def test_forged_results_file_is_refused(saved_run, path, value):
    config, original = saved_run
    forged = _resigned(apply(json.loads(original), path, "replace", value))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "cfg.json").write_text(config)
        (folder / "run.json").write_text(json.dumps(forged))
        code, out, err = run_cli(["integrate", str(folder / "cfg.json"), "--save",
                                  str(folder / "run.json"), "--resume", "--json"])
    assert_clean(code, out, err, {0, 2, 3}, json_out=True)


# ------------------------------------------------------------------- subprocess
def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MIRRORFLOW_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "numerics.cli", *args], capture_output=True,
                          text=True, timeout=300, env=env, cwd=cwd)


def test_subprocess_derive_refusal_is_one_line(tmp_path):
    proc = run_module("derive", "x*asinh(x/b) - sqrt(x**2+b**2)", "--param", "b=0",
                      cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == ("mirrorflow derive: error: b = 0 makes x/b undefined: "
                                   "use b > 0")


def test_subprocess_integrate_garbage_config(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(to_json_text({**BASES["linear"], "until": {"log_t": "@RAW_1e400@"},
                                 "potential": "x**2/2 + " * 2000 + "x**2"})[:-3])
    proc = run_module("integrate", str(cfg), "--json", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.json"]
