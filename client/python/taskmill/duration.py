"""Human durations, as the C++ ``ParseDurationMs`` (shared/include/taskmill/shared/duration.h):
a whole number and one unit, ``ms``, ``s``, ``m`` or ``h`` (``250ms``, ``30s``, ``5m``,
``2h``), from 1 ms to 365 days. No spaces, sign, fractions or mixed units."""

import re
from typing import Union

MAX_DURATION_MS = 365 * 24 * 3600 * 1000
_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_ALLOWED = ("expected a whole number and a unit: ms, s, m or h (e.g. 250ms, 30s, 5m, 2h), "
            "from 1ms to 365 days")
_SYNTAX = re.compile(r"([0-9]{1,12})(ms|s|m|h)")


def parse_duration(text: Union[str, int], what: str = "duration") -> int:
    """Milliseconds of ``text``; an int is taken as milliseconds already. Raises
    ``ValueError`` naming ``what`` and what is allowed."""
    if isinstance(text, bool):
        raise ValueError(f"{what}: {text!r} is not a duration; {_ALLOWED}")
    if isinstance(text, int):
        ms = text
    else:
        m = _SYNTAX.fullmatch(text) if isinstance(text, str) else None
        if m is None:
            raise ValueError(f"{what}: {str(text)[:32]!r} is not a duration; {_ALLOWED}")
        ms = int(m.group(1)) * _UNITS[m.group(2)]
    if ms < 1 or ms > MAX_DURATION_MS:
        raise ValueError(f"{what}: {text!r} is out of range; {_ALLOWED}")
    return ms
