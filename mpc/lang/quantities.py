"""Durations and Kubernetes quantities: parsed into values, printed back canonically."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")
DURATION_PATTERN = r"^(?:\d+h)?(?:\d+m(?!s))?(?:\d+(?:\.\d+)?s)?(?:\d+ms)?$"


# Longer than any timeout or interval a mesh needs (a rate limit per week fits) and far inside what
# Envoy, Istio and Prometheus accept (Envoy refuses durations past 10,000 years).
MAX_DURATION_MS = 30 * 24 * 3_600_000
MAX_DURATION = "720h"


def parse_duration_ms(value: object) -> int:
    """`250ms`, `15s`, `1.5s`, `2m`, `1h30m` -> milliseconds. Raises ValueError with a mesh-term message."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("a duration is a string such as 250ms, 15s or 2m")
    match = _DURATION.match(value.strip())
    if not value.strip() or match is None or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration; write it like 250ms, 15s or 2m")
    hours, minutes, seconds, millis = match.groups()
    total = Decimal(0)
    total += Decimal(hours or 0) * 3_600_000
    total += Decimal(minutes or 0) * 60_000
    total += Decimal(seconds or 0) * 1000
    total += Decimal(millis or 0)
    if total != total.to_integral_value():
        raise ValueError(f"{value!r} is finer than a millisecond")
    if total > MAX_DURATION_MS:
        raise ValueError(f"{value!r} is longer than {MAX_DURATION} (30 days)")
    return int(total)


def format_duration(ms: int) -> str:
    """Milliseconds as Go/Istio style duration text: 250ms, 15s, 1.5s, 120s."""
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    if ms < 1000:
        return f"{ms}ms"
    return f"{Decimal(ms) / 1000}s"


def envoy_duration(ms: int) -> str:
    """Envoy (protobuf JSON) durations are seconds with a fraction: 0.250s, 15s."""
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{Decimal(ms) / 1000:f}s"


_SUFFIX: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
QUANTITY_PATTERN = r"^\d+(\.\d+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"


@dataclass(frozen=True, slots=True)
class Quantity:
    """A Kubernetes quantity: the canonical text written out, and its value for comparisons."""

    text: str
    value: Decimal

    def __str__(self) -> str:
        return self.text

    def scaled(self, factor: int) -> Quantity:
        """This quantity times a whole factor, keeping its suffix (100m * 2 = 200m)."""
        match = _QUANTITY.match(self.text)
        assert match is not None
        number = Decimal(match.group(1)) * factor
        suffix = match.group(2) or ""
        shown = format(number.normalize(), "f")
        return Quantity(f"{shown}{suffix}", self.value * factor)


def parse_quantity(value: object) -> Quantity:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("a quantity is a string such as 100m, 2, 128Mi or 20Gi")
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity; write it like 100m, 2, 128Mi or 20Gi")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(f"{value!r} is not a number") from None
    return Quantity(text, number * _SUFFIX[match.group(2) or ""])
