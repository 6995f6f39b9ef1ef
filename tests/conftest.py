"""Shared test configuration: hypothesis profiles.

``dev`` (the default) and ``ci`` draw *derandomized* examples: the same examples on every run,
so ``pytest`` passes or fails the same way on a clean clone (session 16: a randomised draw of
the default suite found a real failure on one CI run in three).  ``explore`` draws the same
number of examples at random, and ``thorough`` many more at random: run them to search the
admissible domain beyond the fixed draws, and keep what they find as an explicit case.
"""
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
