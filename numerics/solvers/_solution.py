"""MirrorFlowSolution: a trajectory with its diagnostics, saved and loaded atomically."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
from numpy.typing import NDArray

from theory import PerLayer, package_version

from .._files import atomic_write_text
from ..problem import log_loss_and_weights
from ._status import status_message

__all__ = ["FORMAT", "FORMAT_VERSION", "MirrorFlowSolution", "balance_residuals",
           "content_digest", "problem_to_dict"]

FORMAT, FORMAT_VERSION = "mirrorflow-solution", 2
#: Versions :meth:`MirrorFlowSolution.load` reads (1: before content digests; read-only).
READABLE_VERSIONS = (1, 2)


def content_digest(record: dict[str, Any]) -> str:
    """``sha256:<hex>`` of a results record without its ``digest`` field (canonical JSON:
    sorted keys, no spaces), so any edit of the stored trajectory, problem or metadata changes
    it.

    Examples
    --------
    >>> a = content_digest({"x": ["1.0"], "digest": "ignored"})
    >>> a == content_digest({"x": ["1.0"]}), a == content_digest({"x": ["1.5"]})
    (True, False)
    """
    body = {k: v for k, v in record.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class MirrorFlowSolution:
    """A mirror-flow trajectory at the recorded points.

    Attributes
    ----------
    log_t, s : (N,) arrays
        log t and the time-changed clock s at each recorded point.
    theta, z : (N, P) arrays
        Primal parameters and dual variables ∇φ(θ).
    log_loss : (N,) array
        log ℒ(θ) (log-sum-exp; no underflow).
    min_margin : (N,) array
        min_i q_i(θ).
    balance_residual_max : (N,) array
        The balance law's residual relative to the size of its terms (THEORY.md §2):
        max_j |C_j(t) − C_j(0)| / (1 + max(S_j(t), S_j(0))) over the model's neurons, S_j
        = Σ_{I_j} |g| + k Σ_{O_j} |g| (:func:`numerics.solvers.balance_residuals`; 0 if the
        model has none). Results files written before session 12 (same file format) hold the
        absolute residual max_j |C_j(t) − C_j(0)| instead, an upper bound of the relative one.
    status, method, precision_bits, rhs_evals, seconds
        Solver outcome (a :class:`numerics.solvers.Status` value; :attr:`message` says what it
        means and what to do) and cost; ``precision_bits`` are the bits the solver worked at.
    theta_mp, log_loss_mp, min_margin_mp : object arrays of mpmath numbers, or None
        The same quantities at the working precision of an arbitrary-precision run (None for
        float64 runs); the float64 arrays above are their roundings, for plots and diagnostics.
    """

    log_t: NDArray[np.float64]
    s: NDArray[np.float64]
    theta: NDArray[np.float64]
    z: NDArray[np.float64]
    log_loss: NDArray[np.float64]
    min_margin: NDArray[np.float64]
    balance_residual_max: NDArray[np.float64]
    status: str
    method: str
    precision_bits: int
    rhs_evals: int
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)
    theta_mp: NDArray[np.object_] | None = None
    log_loss_mp: NDArray[np.object_] | None = None
    min_margin_mp: NDArray[np.object_] | None = None

    def __post_init__(self) -> None:
        # a Status member is stored as its plain string: results files, JSON and reprs read
        # "reached", and comparisons with Status members still hold (StrEnum)
        object.__setattr__(self, "status", str(self.status))

    @property
    def message(self) -> str:
        """What the status means and what to do next, with the solver's reason if it gave one
        (:func:`numerics.solvers.status_message`)."""
        return status_message(self.status, self.meta.get("reason"), self.method)

    def with_precise(self, theta_mp, log_loss_mp, min_margin_mp, balance_residual_max,
                     dps: int) -> MirrorFlowSolution:
        """A copy carrying high-precision values (``dps`` significant digits are stored)."""
        def f(a):
            return np.array([float(v) for v in np.ravel(a)]).reshape(np.shape(a))
        return replace(self, log_loss=f(log_loss_mp), min_margin=f(min_margin_mp),
                       balance_residual_max=np.asarray(balance_residual_max, float),
                       theta_mp=np.asarray(theta_mp, dtype=object),
                       log_loss_mp=np.asarray(log_loss_mp, dtype=object),
                       min_margin_mp=np.asarray(min_margin_mp, dtype=object),
                       meta={**self.meta, "dps_stored": int(dps)})

    @classmethod
    def from_states(cls, problem, *, s, log_t, thetas, status, method, precision_bits,
                    rhs_evals, seconds, extra=None) -> MirrorFlowSolution:
        """Compute the diagnostics of a problem's trajectory (float64)."""
        X, y, model = problem.data.X, problem.data.y, problem.model
        thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
        q = np.array([y * model.outputs(th, X) for th in thetas])
        log_loss = np.array([log_loss_and_weights(qi, problem.loss)[0] for qi in q])
        resid = balance_residuals(problem, thetas)
        with np.errstate(over="ignore"):   # z = sinh(theta) is inf in float64 past 710
            z = np.array([problem.mirror(th) for th in thetas])
        meta = {"problem": problem_to_dict(problem), **(extra or {})}
        return cls(np.asarray(log_t, float), np.asarray(s, float), thetas, z, log_loss,
                   q.min(axis=1), resid, status, method, precision_bits, rhs_evals,
                   float(seconds), meta)

    # ------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (floats as repr strings: no digits lost)."""
        def arr(a):
            return np.vectorize(repr, otypes=[object])(np.asarray(a, float)).tolist()
        return {
            "format": FORMAT, "version": FORMAT_VERSION, "package_version": package_version(),
            "status": self.status, "method": self.method, "precision_bits": self.precision_bits,
            "rhs_evals": self.rhs_evals, "seconds": self.seconds,
            "arrays": {k: arr(getattr(self, k)) for k in (
                "log_t", "s", "theta", "z", "log_loss", "min_margin", "balance_residual_max")},
            "meta": self.meta,
            **({"arrays_mp": self._mp_arrays()} if self.theta_mp is not None else {}),
        }

    @property
    def verified(self) -> bool:
        """False for a solution read from a results file without a content digest (format
        version 1): it can be looked at, but ``resume`` refuses to continue it."""
        return bool(self.meta.get("digest_verified", True))

    def require_verified(self, what: str = "the saved run") -> None:
        """Raise ValueError naming ``what`` if this solution has no content digest
        (:attr:`verified`): a run to continue must be one nobody edited by hand."""
        if not self.verified:
            raise ValueError(f"{what} has no content digest (a format-1 results file), so "
                             "hand edits cannot be ruled out: re-run it from the start")

    def _mp_arrays(self) -> dict[str, Any]:
        dps = int(self.meta.get("dps_stored", 40))
        def arr(a):
            return np.vectorize(lambda v: mpmath.nstr(v, dps, strip_zeros=False),
                                otypes=[object])(a).tolist()
        return {"theta": arr(self.theta_mp), "log_loss": arr(self.log_loss_mp),
                "min_margin": arr(self.min_margin_mp)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically (temp file + rename: an interrupted save leaves the old file), with a
        sha256 content digest and the permissions of the current umask."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = self.to_dict()
        record["meta"] = {k: v for k, v in record["meta"].items() if k != "digest_verified"}
        record["digest"] = content_digest(record)
        atomic_write_text(path, json.dumps(record))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> MirrorFlowSolution:
        """Read a saved solution; a corrupt or foreign file raises a ValueError naming it."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is not a mirrorflow results file (invalid JSON: {exc}); "
                             "re-run the computation or restore the file") from exc
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ValueError(f"{path} is not a mirrorflow results file (no format={FORMAT!r})")
        if raw.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"{path} has format version {raw.get('version')}, this mirrorflow "
                             f"reads versions {READABLE_VERSIONS}: upgrade mirrorflow or re-run")
        if raw["version"] >= 2 and raw.get("digest") != content_digest(raw):
            raise ValueError(f"{path} was changed after mirrorflow wrote it (content digest "
                             "mismatch): restore the original file or re-run the computation")
        if raw["version"] == 1 and isinstance(raw.get("meta"), dict):
            raw["meta"]["digest_verified"] = False
        try:
            _check_structure(raw)
            a = {k: np.array(v, dtype=float) for k, v in raw["arrays"].items()}
            mp = _load_mp(raw.get("arrays_mp"), int(raw.get("meta", {}).get("dps_stored", 40)))
            return cls(a["log_t"], a["s"], a["theta"], a["z"], a["log_loss"], a["min_margin"],
                       a["balance_residual_max"], raw["status"], raw["method"],
                       int(raw["precision_bits"]), int(raw["rhs_evals"]),
                       float(raw["seconds"]), raw.get("meta", {}), *mp)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise ValueError(f"{path} is a corrupt mirrorflow results file ({exc!r} missing or "
                             "malformed); re-run the computation") from exc


def _check_structure(raw: dict[str, Any]) -> None:
    """Types and shapes of a results record (a digest says who wrote it, not that it is sane)."""
    if not isinstance(raw.get("arrays"), dict) or not isinstance(raw.get("meta"), dict):
        raise TypeError("'arrays' and 'meta' must be objects")
    if not isinstance(raw.get("status"), str) or not isinstance(raw.get("method"), str):
        raise TypeError("'status' and 'method' must be strings")
    arrays = raw["arrays"]
    n = len(arrays.get("log_t") or [])
    if n == 0:
        raise ValueError("'log_t' is empty")
    for key in ("log_t", "s", "log_loss", "min_margin", "balance_residual_max"):
        if np.ndim(np.array(arrays[key], dtype=float)) != 1 or len(arrays[key]) != n:
            raise ValueError(f"'{key}' must be a list of {n} numbers")
    for key in ("theta", "z"):
        shape = np.shape(np.array(arrays[key], dtype=float))
        if len(shape) != 2 or shape[0] != n:
            raise ValueError(f"'{key}' must be {n} rows of parameters")


def _load_mp(arrays: dict[str, Any] | None, dps: int) -> tuple[Any, Any, Any]:
    if arrays is None:
        return None, None, None
    with mpmath.workdps(dps + 5):
        def arr(v):
            return np.vectorize(mpmath.mpf, otypes=[object])(np.array(v, dtype=object))
        return arr(arrays["theta"]), arr(arrays["log_loss"]), arr(arrays["min_margin"])


def balance_residuals(problem, thetas) -> NDArray[np.float64]:
    """Relative balance-law residual of each row θ_k against the first row θ_0 (float64).

    The definition (THEORY.md §2), shared with :func:`numerics.solvers.precise.mp_balance`::

        r_k = max_j |C_j(θ_k) − C_j(θ_0)| / (1 + max(S_j(θ_k), S_j(θ_0)))

    with the model's neuron groups j (incoming I_j, outgoing O_j, degree k_j),
    C_j = Σ_{m in I_j} g(θ_m) − k_j Σ_{m in O_j} g(θ_m) the conserved quantity and
    S_j = Σ_{m in I_j} |g(θ_m)| + k_j Σ_{m in O_j} |g(θ_m)| the size of the terms it is summed
    from. Rounding the terms leaves ~eps·S_j of |ΔC_j|, so r_k is at most the absolute residual
    and reads as "eps units of the terms" for l_inf-type potentials whose g reaches 1e16; the
    ``1 +`` keeps small terms absolute. 0 for every row if the model has no neurons; where a
    term overflows float64 (S_j = inf) the absolute value (inf or nan) is kept.

    Examples
    --------
    >>> from theory import Potential
    >>> from numerics import Problem, TwoLayer, two_d
    >>> prob = Problem.create(two_d(4, seed=0), TwoLayer(width=1, activation="power(2)"),
    ...                       Potential.quadratic())
    >>> th0 = np.array([1.0, 0.0, 1.0])        # g = x²/2: C = 1/2 − 2 · 1/2 = −1/2, S = 3/2
    >>> th1 = np.array([1.0, 1.0, 1.0])        # C = 1 − 1 = 0, S = 2
    >>> balance_residuals(prob, [th0, th1]).tolist()      # |0 + 1/2| / (1 + 2)
    [0.0, 0.16666666666666666]
    """
    thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
    check_theta_rows(problem, thetas)
    groups = problem.model.neuron_groups(problem.d)
    if not groups:
        return np.zeros(len(thetas))
    g = np.array([problem.balance_terms(th) for th in thetas])
    C, S = _per_neuron(g, groups, -1), _per_neuron(np.abs(g), groups, 1)
    with np.errstate(invalid="ignore"):
        dev, scale = np.abs(C - C[0]), 1 + np.maximum(S, S[0])
        rel = np.where(np.isfinite(scale), dev / scale, dev)
    return rel.max(axis=1)


def check_theta_rows(problem, thetas) -> None:
    """Raise a ``ValueError`` naming the expected length unless every row of ``thetas`` has
    ``problem.n_params`` parameters (one θ per row).

    >>> from theory import Potential
    >>> from numerics import Linear, Problem, two_d
    >>> check_theta_rows(Problem.create(two_d(4, seed=0), Linear(), Potential.quadratic()),
    ...                  [[1.0, 2.0, 3.0]])
    Traceback (most recent call last):
    ...
    ValueError: each θ must have 2 parameters (this model on d = 2), got rows of 3
    """
    lengths = {len(row) for row in thetas}
    if lengths != {problem.n_params}:
        got = ", ".join(str(n) for n in sorted(lengths)) or "none"
        raise ValueError(f"each θ must have {problem.n_params} parameters (this model on "
                         f"d = {problem.d}), got rows of {got}")


def _per_neuron(terms: NDArray[np.float64], groups, sign: int) -> NDArray[np.float64]:
    """Σ_{I_j} terms + sign · k_j Σ_{O_j} terms for each row and neuron j: an (N, J) array."""
    return np.stack([terms[:, list(gr.incoming)].sum(1)
                     + sign * gr.k * terms[:, list(gr.outgoing)].sum(1) for gr in groups], axis=1)


def problem_to_dict(problem) -> dict[str, Any]:
    """The full problem as JSON-ready data (data, model, potential, loss, θ0, init)."""
    def pot(p):
        return {"expr": str(p.expr), "params": {k: str(v) for k, v in p.params.items()}}
    pots = problem.potential
    return {
        "data": {"X": problem.data.X.tolist(), "y": problem.data.y.tolist(),
                 "name": problem.data.name},
        "model": problem.model.to_dict(),
        "potential": [pot(p) for p in pots.potentials] if isinstance(pots, PerLayer)
        else pot(pots),
        "loss": problem.loss,
        "theta0": [repr(float(v)) for v in problem.theta0],
        "init": problem.init,
    }
