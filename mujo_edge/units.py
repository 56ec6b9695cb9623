"""Physical units: everything inside mujo-edge is SI (acceleration m/s^2, angular rate rad/s).

Loaders convert at load time and remember the unit the source used, so a user can trace a number back.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from mujo_edge.errors import ConfigError, DataError

log = logging.getLogger(__name__)

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


# --- sanity check: does a worn accelerometer read about 1 g? -----------------------------------------------
# A worn device's accelerometer reports specific force, so averaged over a recording its magnitude sits near
# 1 g: movement adds and subtracts, gravity stays. Vigorous exercise lifts the mean well above 1 g, but the
# units a file may confuse differ by 9.8x (g vs m/s^2) or 1000x (mg vs g), so a band this wide still
# separates them; outside it the declared unit (or the recording) is wrong.
GRAVITY_BAND_G = (0.3, 3.0)

# When True, a failed check raises instead of warning (the CLI's --strict); a context variable, like
# numpy's errstate, so loaders deep below the CLI need no extra parameter.
_STRICT: ContextVar[bool] = ContextVar("mujo_edge_strict_units", default=False)


@contextmanager
def strict_units(enabled: bool = True) -> Iterator[None]:
    """Within this block `check_gravity` raises DataError instead of logging a warning (when `enabled`)."""
    token = _STRICT.set(enabled)
    try:
        yield
    finally:
        _STRICT.reset(token)


def likely_acc_unit(mean_magnitude: float) -> str | None:
    """The accelerometer unit under which `mean_magnitude` (a mean |acc| as a file wrote it) reads nearest to
    1 g in ratio, among those putting it inside GRAVITY_BAND_G; None when no known unit does."""
    lo, hi = GRAVITY_BAND_G
    best, best_dist = None, math.inf
    for unit in known_units("acc"):
        g = mean_magnitude * _TO_SI[unit] / STANDARD_GRAVITY
        if lo <= g <= hi and abs(math.log(g)) < best_dist:
            best, best_dist = unit, abs(math.log(g))
    return best


def check_gravity(x: np.ndarray, declared: str, *, source: str, stream: str) -> None:
    """Warn (or, under `strict_units`, raise DataError) when the accelerometer `stream` of `source` does not
    average about 1 g. `x` [N, 3] holds its x, y, z in m/s^2, converted from the `declared` unit; rows with a
    non-finite value are ignored. The message names the file and the unit the values are likely in."""
    rows = x[np.isfinite(x).all(axis=1)]
    if len(rows) == 0:
        return
    mean_si = float(np.linalg.norm(rows.astype(np.float64), axis=1).mean())
    in_g = mean_si / STANDARD_GRAVITY
    lo, hi = GRAVITY_BAND_G
    if lo <= in_g <= hi:
        return
    raw = mean_si / _TO_SI[declared]  # the mean magnitude as the file wrote it
    likely = likely_acc_unit(raw)
    hint = (
        f"the values are likely in [{likely}]"
        if likely is not None
        else f"no known unit ({', '.join(known_units('acc'))}) fits: gravity removed, raw counts, or not worn?"
    )
    message = (
        f"accelerometer {stream} averages {in_g:.3g} g ({mean_si:.3g} m/s^2) read as [{declared}], but a worn "
        f"device averages about 1 g: {hint}"
    )
    if _STRICT.get():
        raise DataError(message, path=source, field=stream)
    log.warning("%s: %s (--strict makes this an error)", source, message)
