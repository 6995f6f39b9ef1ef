"""Result types of the verification battery: one :class:`Check`, the :class:`Report`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Check", "Report"]


@dataclass(frozen=True)
class Check:
    """One verified statement: what theory predicts, what the trajectory shows.

    Attributes
    ----------
    name : str
        The property and the run it was measured on.
    predicted, measured : str
        Human-readable values (numbers with their tolerance or band).
    passed : bool
    detail : str
        The THEORY.md statement, the data, and why it failed.

    Examples
    --------
    >>> Check("balance", "0", "1e-12", True).as_dict()["passed"]
    True
    """

    name: str
    predicted: str
    measured: str
    passed: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (keys ``name, predicted, measured, passed, detail``)."""
        return asdict(self)


@dataclass
class Report:
    """The battery's verdict: a list of checks and of skipped properties (with reasons).

    Examples
    --------
    >>> rep = Report([Check("balance", "0", "1e-12", True)])
    >>> rep.passed, rep.to_json()["passed"]
    (True, True)
    """

    checks: list[Check] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether there is at least one check and every check passed."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    def skip(self, message: str) -> None:
        """Record a skipped property once (whitespace collapsed to single spaces).

        Examples
        --------
        >>> rep = Report()
        >>> rep.skip("rates:  no margin"); rep.skip("rates: no margin")
        >>> rep.skipped
        ['rates: no margin']
        """
        message = " ".join(message.split())
        if message not in self.skipped:
            self.skipped.append(message)

    def to_json(self) -> dict[str, Any]:
        """``{"checks": [{"name", "predicted", "measured", "passed", "detail"}], "passed",
        "skipped", "notes", "runs", "seconds"}``."""
        return {"checks": [c.as_dict() for c in self.checks], "passed": self.passed,
                "skipped": list(self.skipped), "notes": list(self.notes),
                "runs": list(self.runs),
                "seconds": round(self.seconds, 2)}

    def table(self) -> str:
        """A plain-text table: property, predicted, measured, pass/fail."""
        rows = [("property", "predicted", "measured", "")] + [
            (c.name, c.predicted, c.measured, "pass" if c.passed else "FAIL") for c in self.checks]
        w = [min(max(len(r[k]) for r in rows), cap) for k, cap in enumerate((44, 44, 44, 4))]
        lines = ["  ".join(_clip(r[k], w[k]).ljust(w[k]) for k in range(4)).rstrip()
                 for r in rows]
        lines.insert(1, "  ".join("-" * x for x in w))
        for c in self.checks:
            if not c.passed and c.detail:
                lines.append(f"FAIL {c.name}: {c.detail}")
        lines += [f"skipped: {s}" for s in self.skipped]
        lines += [f"note: {s}" for s in self.notes]
        lines += [f"run {r['label']}: {r['status']} at log t = {r['log_t']:.4g}, {r['steps']} "
                  f"steps, {r['seconds']:.2f} s" for r in self.runs]
        lines.append(f"{'PASSED' if self.passed else 'FAILED'}: "
                     f"{sum(c.passed for c in self.checks)}/{len(self.checks)} checks "
                     f"in {self.seconds:.1f} s")
        return "\n".join(lines)


def _clip(s: str, width: int) -> str:
    return s if len(s) <= width else s[: width - 1] + "…"
