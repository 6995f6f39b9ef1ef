"""Max-margin programs for bias-free linear models (THEORY.md §4).

For a linear model ``f(x) = <x, beta>`` trained on separable data, mirror flow (and gradient
descent with the matching geometry) converges in *direction* to the solution of

    min ||beta||_p   subject to   y_i <x_i, beta> >= 1,   i = 1..n,

where ``||.||_p`` is the horizon (gauge) of the potential: l_2 for gradient flow, l_1 / l_inf /
l_p for the other horizons (Gunasekar et al. 2018, "Characterizing implicit bias in terms of
optimization geometry"; Sun et al. 2022, "Mirror descent maximizes generalized margin"). Its
value is ``1 / margin`` with ``margin = max_{||beta||_p <= 1} min_i y_i <x_i, beta>``; this module
is the oracle the rest of the project tests against.

Every result carries a certificate computed from quantities a reader can re-check: a primal
point rescaled to be exactly feasible, and dual multipliers ``lam >= 0`` rescaled so that
``||A^T lam||_q <= 1`` (``A = y[:, None] * X``, ``1/p + 1/q = 1``). Weak duality then brackets
the optimal value: ``sum(lam) <= 1 / margin* <= 1 / margin``.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from numbers import Real

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linprog, minimize, nnls

__all__ = ["MarginCertificate", "MaxMarginResult", "max_margin"]

_GAP_WARN = 1e-6  # a relative duality gap above this triggers a RuntimeWarning


@dataclass(frozen=True)
class MarginCertificate:
    """Optimality certificate of a max-margin solve.

    Attributes
    ----------
    duality_gap : float
        ``(P - D) / P`` with ``P = 1 / margin`` (the norm of the exactly feasible rescaled primal
        point) and ``D = sum(dual)`` (the value of the rescaled, exactly dual-feasible
        multipliers). Non-negative up to rounding by weak duality.
    kkt_residual : float
        Largest scale-free violation of the KKT conditions by the solver's raw output: primal
        feasibility, ``lam >= 0``, complementary slackness and ``A^T lam in d||beta||_p``.
    primal_objective, dual_objective : float
        ``P`` and ``D`` above.
    """

    duality_gap: float
    kkt_residual: float
    primal_objective: float
    dual_objective: float


@dataclass(frozen=True)
class MaxMarginResult:
    """Solution of ``min ||beta||_p s.t. y_i <x_i, beta> >= 1``; see :func:`max_margin`.

    Attributes
    ----------
    direction : numpy.ndarray
        The maximiser of the normalised margin, ``||direction||_p = 1``.
    margin : float
        ``min_i y_i <x_i, direction>``, i.e. ``1 / min ||beta||_p``.
    norm : float
        The exponent ``p`` (``inf`` for l_inf).
    support : numpy.ndarray
        Indices of the samples on the margin (support vectors), within the tolerance.
    dual : numpy.ndarray
        Multipliers ``lam >= 0`` scaled so that ``||A^T lam||_q <= 1``; ``sum(dual)`` is a
        certified lower bound on ``1 / margin*``.
    certificate : MarginCertificate
        Duality gap and KKT residual.
    method : str
        Which algorithm produced the result.
    """

    direction: np.ndarray
    margin: float
    norm: float
    support: np.ndarray
    dual: np.ndarray
    certificate: MarginCertificate
    method: str


def _parse_norm(norm: object) -> float:
    if isinstance(norm, str):
        s = norm.strip().lower().replace("_", "")
        if s in {"inf", "linf", "l∞"}:
            return math.inf
        m = re.fullmatch(r"l(\d+(?:\.\d*)?)", s)
        if m is None:
            raise ValueError(
                f"norm={norm!r} is not recognised; pass a number p >= 1, float('inf'), "
                "or one of 'l1', 'l2', 'linf'."
            )
        return _parse_norm(float(m.group(1)))
    if isinstance(norm, bool) or not isinstance(norm, Real):
        raise ValueError(
            f"norm={norm!r} must be a real number p >= 1, float('inf'), or one of "
            "'l1', 'l2', 'linf'."
        )
    p = float(norm)
    if math.isnan(p) or p < 1:
        raise ValueError(
            f"norm={norm!r} is not a norm exponent: l_p is a norm only for p >= 1 "
            "(its unit ball is non-convex for p < 1); pass p >= 1 or float('inf')."
        )
    return p


def _validate(X: object, y: object, tol: float) -> tuple[np.ndarray, np.ndarray]:
    try:
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"X and y must be numeric array-likes: {exc}") from exc
    if X.ndim != 2:
        raise ValueError(
            f"X must be a 2-D array of shape (n, d), got shape {X.shape}; "
            "for a single sample use X.reshape(1, -1)."
        )
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of n labels, got shape {y.shape}; use y.ravel().")
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X has {X.shape[0]} rows but y has {y.shape[0]} labels; X must be (n, d) with one "
            "label per row (transpose X if it is (d, n))."
        )
    if X.size == 0:
        raise ValueError(f"X is empty (shape {X.shape}); pass at least one sample and feature.")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite entries; remove or impute those samples.")
    if not np.all((y == 1) | (y == -1)):
        bad = np.unique(y[(y != 1) & (y != -1)])[:5]
        raise ValueError(
            f"y must contain labels in {{-1, +1}}, found {bad.tolist()}; map labels with "
            "y = np.where(y == positive_class, 1, -1)."
        )
    if not (isinstance(tol, Real) and 0 < tol < 1):
        raise ValueError(f"tol={tol!r} must be a float in (0, 1), e.g. 1e-9.")
    return X, y


def _pnorm(v: np.ndarray, p: float) -> float:
    """||v||_p, computed without overflow for large p."""
    a = np.abs(v)
    m = float(a.max(initial=0.0))
    if m == 0.0 or math.isinf(p):
        return m
    return m * float(np.sum((a / m) ** p)) ** (1.0 / p)


def _conj(p: float) -> float:
    return math.inf if p == 1 else (1.0 if math.isinf(p) else p / (p - 1.0))


def _not_separable() -> ValueError:
    return ValueError(
        "the dataset is not linearly separable through the origin (the model is bias-free): "
        "no beta satisfies y_i <x_i, beta> > 0 for all i. Remove overlapping or all-zero points, "
        "add a constant feature for a bias, or check the labels."
    )


def _linprog(c, A_ub, b_ub, bounds, tol: float):
    tiny = max(tol, 1e-10)
    opts = {"primal_feasibility_tolerance": tiny, "dual_feasibility_tolerance": tiny}
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs", options=opts)
    if res.status == 2:
        raise _not_separable()
    if res.status != 0:
        raise RuntimeError(f"HiGHS failed on the max-margin LP: {res.message}")
    return res


def _lp(A: np.ndarray, p: float, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """l_1 (split beta = b+ - b-) or l_inf (epigraph t) LP; returns beta and lam."""
    n, d = A.shape
    if p == 1:
        c = np.ones(2 * d)
        res = _linprog(c, np.hstack([-A, A]), -np.ones(n), [(0, None)] * (2 * d), tol)
        beta = res.x[:d] - res.x[d:]
    else:
        c = np.zeros(d + 1)
        c[-1] = 1.0
        eye, one = np.eye(d), np.ones((d, 1))
        A_ub = np.vstack(
            [np.hstack([-A, np.zeros((n, 1))]), np.hstack([eye, -one]), np.hstack([-eye, -one])]
        )
        b_ub = np.concatenate([-np.ones(n), np.zeros(2 * d)])
        res = _linprog(c, A_ub, b_ub, [(None, None)] * d + [(0, None)], tol)
        beta = res.x[:d]
    return beta, np.maximum(-res.ineqlin.marginals[:n], 0.0)


def _l2_ldp(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """min ||beta||_2 s.t. A beta >= 1 as a least-distance program via NNLS (Lawson-Hanson)."""
    n, d = A.shape
    E = np.vstack([A.T, np.ones((1, n))])
    f = np.zeros(d + 1)
    f[-1] = 1.0
    u, _ = nnls(E, f, maxiter=50 * (n + d))
    s = 1.0 - u.sum()
    beta = A.T @ u / s
    return beta, u / s / np.linalg.norm(beta)  # multipliers of the (unsquared) norm objective


def _slsqp(A: np.ndarray, p: float, beta0: np.ndarray) -> np.ndarray:
    """min 1/2 ||beta||_p^2 s.t. A beta >= 1 from a feasible start."""
    s2 = _pnorm(beta0, p) ** 2

    def fun(b: np.ndarray) -> tuple[float, np.ndarray]:
        N = _pnorm(b, p)
        g = np.sign(b) * (np.abs(b) / N) ** (p - 1) if N > 0 else np.zeros_like(b)
        return 0.5 * N * N / s2, N * g / s2

    cons = {"type": "ineq", "fun": lambda b: A @ b - 1.0, "jac": lambda b: A}
    res = minimize(
        fun,
        beta0,
        jac=True,
        method="SLSQP",
        constraints=[cons],
        options={"ftol": 1e-10, "maxiter": 500},
    )
    return res.x


def _fit_multipliers(A: np.ndarray, p: float, beta: np.ndarray) -> np.ndarray:
    """lam >= 0 on the near-active set best fitting A^T lam = grad ||beta||_p (stationarity)."""
    N = _pnorm(beta, p)
    g = np.sign(beta) * (np.abs(beta) / N) ** (p - 1)
    S = np.flatnonzero(A @ beta - 1.0 <= 1e-6)
    lam = np.zeros(A.shape[0])
    lam[S] = nnls(A[S].T, g)[0]
    return lam


def _newton(A_S: np.ndarray, p: float, beta: np.ndarray, mu: np.ndarray):
    """Damped Newton on the KKT system of min (1/p)||beta||_p^p s.t. A_S beta = 1.

    For p <= 2 it minimises the (convex, C^2 for q >= 2) dual function
    Phi(mu) = ||A_S^T mu||_q^q / q - sum(mu), whose minimiser gives beta = |v|^(q-1) sign(v),
    v = A_S^T mu; for p > 2 it runs infeasible-start Newton on (beta, mu) with a residual-norm
    line search (the primal Hessian (p-1)|beta|^(p-2) is finite there). Assumes max |beta| ~ 1.
    """
    k, d = A_S.shape
    q = _conj(p)

    def dual(m):
        v = A_S.T @ m
        b = np.sign(v) * np.abs(v) ** (q - 1)
        return float(np.sum(np.abs(v) ** q) / q - m.sum()), A_S @ b - 1.0, b, v

    def kkt(b, m):
        r1 = np.sign(b) * np.abs(b) ** (p - 1) - A_S.T @ m
        return np.concatenate([r1, A_S @ b - 1.0])

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if p <= 2:
            phi, r, beta, v = dual(mu)
        else:
            r = kkt(beta, mu)
        for _ in range(60):
            rn = float(np.linalg.norm(r))
            if not rn > 1e-15:
                break
            if p <= 2:
                H = (A_S * ((q - 1) * np.abs(v) ** (q - 2))) @ A_S.T
                if not np.all(np.isfinite(H)):
                    break
                dm = np.linalg.lstsq(H, -r, rcond=None)[0]
                slope, t = float(r @ dm), 1.0
                while t > 1e-20:
                    phi_t, r_t, b_t, v_t = dual(mu + t * dm)
                    if phi_t <= phi + 1e-4 * t * slope or np.linalg.norm(r_t) < 0.5 * rn:
                        break
                    t /= 2
                else:
                    break
                mu, phi, r, beta, v = mu + t * dm, phi_t, r_t, b_t, v_t
            else:
                J = np.block(
                    [[np.diag((p - 1) * np.abs(beta) ** (p - 2)), -A_S.T], [A_S, np.zeros((k, k))]]
                )
                if not np.all(np.isfinite(J)):
                    break
                step = np.linalg.lstsq(J, -r, rcond=None)[0]
                t = 1.0
                while t > 1e-20:
                    r_t = kkt(beta + t * step[:d], mu + t * step[d:])
                    if np.linalg.norm(r_t) <= (1 - 1e-4 * t) * rn:
                        break
                    t /= 2
                else:
                    break
                beta, mu, r = beta + t * step[:d], mu + t * step[d:], r_t
    return beta, mu, float(np.max(np.abs(r)))


def _polish(A: np.ndarray, p: float, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Active-set Newton on the KKT system from an approximate solution; None if it fails."""
    c = float(np.max(np.abs(beta)))
    Ab, b = A * c, beta / c  # rescaled so that max |b| = 1 (no overflow of |b|^p)
    slack = Ab @ b - 1.0
    S = np.flatnonzero(slack <= 1e-6 * max(1.0, float(slack.min())))
    S = S if S.size else np.array([int(np.argmin(slack))])
    best = None
    for _ in range(10):  # primal-dual active-set updates, one constraint at a time
        g = np.sign(b) * np.abs(b) ** (p - 1)
        b_new, mu, res = _newton(Ab[S], p, b, nnls(Ab[S].T, g)[0])
        if not (res < 1e-10 and np.all(np.isfinite(b_new))):
            break
        b, best = b_new, (b_new, mu, S)
        viol = Ab @ b - 1.0
        if S.size > 1 and mu.min() < -1e-12:
            S = np.delete(S, int(np.argmin(mu)))
        elif viol.min() < -1e-12:
            S = np.union1d(S, [int(np.argmin(viol))])
        else:
            break
    if best is None:
        return None
    b, mu, S = best
    lam = np.zeros(A.shape[0])
    lam[S] = c * mu / _pnorm(b, p) ** (p - 1)  # multipliers of the norm objective for A
    return b * c, lam


def _primal_value(A: np.ndarray, p: float, beta: np.ndarray) -> float:
    """||beta||_p / min_i (A beta)_i: the objective at beta rescaled to exact feasibility."""
    m = float(np.min(A @ beta))
    return _pnorm(beta, p) / m if m > 0 else math.inf


def _dual_point(A: np.ndarray, p: float, lam: np.ndarray) -> tuple[float, np.ndarray]:
    """lam clipped to >= 0 and rescaled to ||A^T lam||_q = 1, with its dual value sum(lam)."""
    lam = np.maximum(np.nan_to_num(lam, nan=0.0, posinf=0.0), 0.0)
    vq = _pnorm(A.T @ lam, _conj(p))
    lam = lam / vq if vq > 0 else np.zeros_like(lam)
    return float(lam.sum()), lam


def _certify(A: np.ndarray, p: float, beta: np.ndarray, lam: np.ndarray) -> MarginCertificate:
    """Duality gap of (beta, lam) and KKT residual; lam must be the output of _dual_point."""
    P = _primal_value(A, p, beta)
    D = float(lam.sum())
    N = _pnorm(beta, p)
    Ab = A @ beta
    v = A.T @ lam  # ||v||_q = 1, so v in d||beta||_p  <=>  <beta, v> = ||beta||_p
    kkt = max(
        float(np.max(np.maximum(1.0 - Ab, 0.0))),  # primal feasibility of the raw point
        float(np.sum(lam * np.abs(Ab - 1.0))) / D if D > 0 else 1.0,  # complementary slackness
        abs(float(beta @ v) / N - 1.0) if N > 0 else 1.0,  # stationarity
    )
    gap = (P - D) / P if math.isfinite(P) else math.inf
    return MarginCertificate(gap, kkt, P, D)


def max_margin(
    X: ArrayLike, y: ArrayLike, norm: float | str, *, tol: float = 1e-9
) -> MaxMarginResult:
    """Max-margin direction of a bias-free linear model in the l_p geometry.

    Solves ``min ||beta||_p s.t. y_i <x_i, beta> >= 1`` and returns ``beta / ||beta||_p``: the
    direction in which a linear model trained by mirror flow with an l_p horizon converges
    (THEORY.md §4; Gunasekar et al. 2018, Sun et al. 2022). Equivalently it maximises
    ``min_i y_i <x_i, beta>`` over the unit l_p ball.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Samples (finite floats).
    y : array_like, shape (n,)
        Labels in {-1, +1}.
    norm : float or str
        The exponent ``p >= 1`` or ``float('inf')``; also ``'l1'``, ``'l2'``, ``'linf'``.
    tol : float, optional
        Solver feasibility tolerance and support threshold: sample i is a support vector if
        ``y_i <x_i, direction> <= (1 + max(tol, 1e-12)) * margin``.

    Returns
    -------
    MaxMarginResult
        Direction, margin, support, dual multipliers and an optimality certificate.

    Raises
    ------
    ValueError
        If the inputs are malformed, or the data are not linearly separable through the origin.

    Notes
    -----
    With ``A = y[:, None] * X`` and ``1/p + 1/q = 1`` the dual is
    ``max sum(lam) s.t. ||A^T lam||_q <= 1, lam >= 0``. Methods:

    * ``p = 1`` and ``p = inf``: linear programs solved by HiGHS (``"highs-lp"``);
      duals are HiGHS's row marginals.
    * ``p = 2``: the least-distance program solved exactly by NNLS (Lawson-Hanson),
      ``"nnls-ldp"``.
    * other ``p``: SLSQP on ``1/2 ||beta||_p^2`` started from the best of the l_1, l_2 and
      l_inf solutions, then an active-set Newton polish of the KKT system. Every candidate
      point and every candidate multiplier vector (HiGHS, NNLS, Newton) is scored on its own;
      ``method`` names the primal point kept (``"slsqp+newton"``, ``"slsqp"``, or e.g.
      ``"l1-lp start"`` when a start is already optimal to rounding).

    Separability is checked first by the l_inf (or l_1) LP. Measured relative duality gaps are
    ~1e-13 for d <= 20, n <= 200 and 1.01 <= p; within ~1e-3 of p = 1 the program is nearly
    the l_1 LP and the float64 certificate can be loose (a ``RuntimeWarning`` is issued when
    the gap exceeds 1e-6).

    Examples
    --------
    >>> import numpy as np
    >>> X, y = np.eye(2), np.array([1, 1])
    >>> for p in (1, 2, np.inf):
    ...     r = max_margin(X, y, p)
    ...     print(p, r.direction, round(r.margin, 6), r.support, r.certificate.duality_gap < 1e-9)
    1 [0.5 0.5] 0.5 [0 1] True
    2 [0.7071 0.7071] 0.707107 [0 1] True
    inf [1. 1.] 1.0 [0 1] True
    >>> max_margin([[1.0], [1.0]], [1, -1], "l2")
    Traceback (most recent call last):
    ...
    ValueError: the dataset is not linearly separable through the origin ...
    """
    p = _parse_norm(norm)
    X, y = _validate(X, y, tol)
    A = y[:, None] * X
    scale = float(np.max(np.abs(A)))
    if scale == 0.0:
        raise _not_separable()
    As = A / scale  # solve with entries in [-1, 1]; beta = beta_s / scale, lam = lam_s / scale

    b_inf, l_inf = _lp(As, 1.0 if p == 1 else math.inf, tol)  # also the separability check
    primal = {"highs-lp": b_inf}  # candidate points by method; the best one is kept
    duals = [l_inf]
    if p == 2:
        b2, l2 = _l2_ldp(As)
        primal, duals = {"nnls-ldp": b2}, [l2]
    elif 1 < p < math.inf:
        b1, l1 = _lp(As, 1.0, tol)
        b2, l2 = _l2_ldp(As)
        primal = {"l1-lp start": b1, "l2-nnls start": b2, "linf-lp start": b_inf}
        duals = [l1, l2, l_inf]
        b = _slsqp(As, p, min(primal.values(), key=lambda b: _primal_value(As, p, b)))
        primal["slsqp"] = b
        duals.append(_fit_multipliers(As, p, b))
        try:
            with np.errstate(all="ignore"):
                polished = _polish(As, p, b)
        except (np.linalg.LinAlgError, RuntimeError, ValueError):  # keep SLSQP's point
            polished = None
        if polished is not None:
            primal["slsqp+newton"] = polished[0]
            duals.append(polished[1])
    # keep the best primal and the best dual point: the certificate checks each on its own
    method = min(reversed(primal), key=lambda m: _primal_value(As, p, primal[m]))  # ties: last
    beta = primal[method] / scale
    _, lam = max((_dual_point(A, p, lm) for lm in duals), key=lambda t: t[0])
    cert = _certify(A, p, beta, lam)
    if not cert.duality_gap <= _GAP_WARN:
        warnings.warn(
            f"max_margin: relative duality gap {cert.duality_gap:.2e} exceeds {_GAP_WARN:g} "
            f"(norm p={p:g}, method {method}); the data may be ill-conditioned (or p too close "
            "to 1): rescale X, use p=1, or check the result.",
            RuntimeWarning,
            stacklevel=2,
        )
    N = _pnorm(beta, p)
    direction = beta / N + 0.0  # + 0.0 turns -0.0 into 0.0
    margins = A @ direction
    margin = float(margins.min())
    support = np.flatnonzero(margins <= margin * (1.0 + max(tol, 1e-12)))
    for arr in (direction, support, lam):
        arr.flags.writeable = False
    return MaxMarginResult(direction, margin, p, support, lam, cert, method)
