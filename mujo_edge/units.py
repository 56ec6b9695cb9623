"""Physical units: everything inside mujo-edge is SI (acceleration m/s^2, angular rate rad/s).

Loaders convert at load time and remember the unit the source used, so a user can trace a number back.
"""

from __future__ import annotations

import math

from mujo_edge.errors import ConfigError

STANDARD_GRAVITY = 9.80665  # m/s^2, the value every IMU datasheet's "g" refers to

# sensor kind -> the SI unit it is stored in
SI_UNITS: dict[str, str] = {"acc": "m/s^2", "gyro": "rad/s"}

# source unit -> factor that multiplies a value in that unit to give SI
_TO_SI: dict[str, float] = {
    "m/s^2": 1.0,
    "g": STANDARD_GRAVITY,
    "mg": STANDARD_GRAVITY / 1000.0,
    "rad/s": 1.0,
    "deg/s": math.pi / 180.0,
    "mrad/s": 1e-3,
}

# which physical quantity each unit measures, so "deg/s" can never be declared for an accelerometer
_QUANTITY: dict[str, str] = {
    "m/s^2": "acc",
    "g": "acc",
    "mg": "acc",
    "rad/s": "gyro",
    "deg/s": "gyro",
    "mrad/s": "gyro",
}


def known_units(sensor: str | None = None) -> list[str]:
    """Unit names accepted for `sensor` ("acc" or "gyro"), or all of them."""
    return [u for u, q in _QUANTITY.items() if sensor is None or q == sensor]


def to_si_factor(unit: str, sensor: str) -> float:
    """Factor converting `unit` to the SI unit of `sensor`; raises ConfigError for a mismatch."""
    if sensor not in SI_UNITS:
        raise ConfigError(f"unknown sensor kind '{sensor}' (known: {', '.join(SI_UNITS)})", field="sensor")
    if unit not in _TO_SI:
        raise ConfigError(f"unknown unit '{unit}' (known: {', '.join(_TO_SI)})", field="unit")
    if _QUANTITY[unit] != sensor:
        raise ConfigError(f"unit '{unit}' does not measure '{sensor}' (use one of {known_units(sensor)})", field="unit")
    return _TO_SI[unit]
