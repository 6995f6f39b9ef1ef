"""Losses in the log domain: log ℒ and the softmax-like weights -ℓ'(q_i)/ℒ (float64)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp

__all__ = ["log_loss_and_weights"]


def log_loss_and_weights(q: NDArray[np.float64], loss: str
                         ) -> tuple[float, NDArray[np.float64]]:
    """log ℒ and w_i = -ℓ'(q_i)/ℒ, stable for huge margins (float64).

    Examples
    --------
    >>> import numpy as np
    >>> ll, w = log_loss_and_weights(np.array([1000.0, 1001.0]), "exp")
    >>> round(ll + 1000, 6), round(float(w.sum() * np.exp(ll + 1000)), 6) > 0
    (0.313262, True)
    """
    if loss == "exp":
        ll = float(logsumexp(-q))
        return ll, np.exp(-q - ll)
    # logistic: ℓ = log(1 + e^-q); log ℓ = log(log1p(e^-q)), ≈ -q - e^-q/2 for large q
    big = q > 30
    log_l = np.where(big, -q - np.exp(-np.where(big, q, 0)) / 2,
                     np.log(np.log1p(np.exp(-np.where(big, 0, q)))))
    ll = float(logsumexp(log_l))
    softplus = np.logaddexp(0, q)                  # -ℓ'(q) = 1/(1+e^q) = exp(-softplus(q))
    return ll, np.exp(-softplus - ll)
