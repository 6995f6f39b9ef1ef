"""Shared test configuration: hypothesis profiles.

``dev`` (the default) and ``ci`` draw *derandomized* examples: the same examples on every run,
so ``pytest`` passes or fails the same way on a clean clone (session 16: a randomised draw of
the default suite found a real failure on one CI run in three).  ``explore`` draws the same
number of examples at random, and ``thorough`` many more at random: run them to search the
admissible domain beyond the fixed draws, and keep what they find as an explicit case.

It also makes ``linecache.checkcache`` tolerate an entry that vanishes while it runs: sympy's
``lambdify`` registers its generated source there and a ``weakref.finalize`` deletes it when the
function is collected, which can happen inside Python 3.11's loop over the cache keys (doctest's
debugger reset calls it before every doctest).  A clean-clone run failed once on that:
``KeyError: '<lambdifygenerated-3788>'`` in the doctest of ``numerics.problem._activations.Power``.
Loaded with ``tests/`` (the default ``pytest``), it covers the doctests of ``numerics/`` too.
"""
import linecache
import os

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("dev", max_examples=15, derandomize=True, **_COMMON)
settings.register_profile("ci", max_examples=25, derandomize=True, **_COMMON)
settings.register_profile("explore", max_examples=15, print_blob=True, **_COMMON)
settings.register_profile("thorough", max_examples=300, print_blob=True, **_COMMON)
_PROFILES = ("dev", "ci", "explore", "thorough")
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
if _PROFILE not in _PROFILES:
    raise ValueError(f"HYPOTHESIS_PROFILE={_PROFILE!r} is not a profile of this suite; use one "
                     f"of {', '.join(_PROFILES)} (or unset it for dev)")
settings.load_profile(_PROFILE)


_checkcache = linecache.checkcache


def _checkcache_tolerant(filename=None):
    """``linecache.checkcache``, retried when a cache entry vanished mid-loop (see above)."""
    for _ in range(5):
        try:
            return _checkcache(filename)
        except KeyError:
            continue
    return None


linecache.checkcache = _checkcache_tolerant
