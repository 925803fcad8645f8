"""``prometheus_client.utils``: how numbers are printed in the exposition formats."""

from __future__ import annotations

import math

INF = float("inf")
MINUS_INF = float("-inf")
NaN = float("NaN")


def floatToGoString(d: float | str) -> str:  # noqa: N802 (prometheus_client's name)
    """``d`` as the exposition prints it (what obsagent's core writes for every value): Python's
    float repr, with positive values of seven or more integer digits moved to Go's exponent form."""
    d = float(d)
    if d == INF:
        return "+Inf"
    if d == MINUS_INF:
        return "-Inf"
    if math.isnan(d):
        return "NaN"
    text = repr(d)
    point = text.find(".")
    if d > 0 and point > 6:
        mantissa = f"{text[0]}.{text[1:point]}{text[point + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{point - 1:02d}"
    return text


def parse_version(version_str: str) -> tuple[int | str, ...]:
    """``"1.0.0"`` as ``(1, 0, 0)``; a part that is not a number stays a string."""
    version: list[int | str] = []
    for part in version_str.split("."):
        try:
            version.append(int(part))
        except ValueError:
            version.append(part)
    return tuple(version)
