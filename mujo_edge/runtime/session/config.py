"""The session tracker's settings (`SessionConfig`) and where a bundle's come from (`config_for_bundle`)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from mujo_edge.errors import ConfigError
from mujo_edge.runtime.repetitions import RepetitionConfig

log = logging.getLogger(__name__)

DEFAULT_CALIBRATION = "calibrated by benchmarks/session_tracking.py for the embedded bundle (validation subjects)"


@dataclass(frozen=True)
class SessionConfig:
    """Thresholds of the session tracker (see `runtime.session.tracker`). energy_threshold in m/s^2,
    periodicity_threshold and confidence_threshold in [0, 1], times in seconds. `calibration` says where the
    numbers come from."""

    # calibrated by benchmarks/session_tracking.py for the embedded bundle on its validation subject's sets
    # between sp-sw-har s01-s11 stretches (benchmarks/results/session_tracking.json, "calibrated")
    energy_threshold: float = 1.194
    periodicity_threshold: float = 0.35
    confidence_threshold: float = 0.5
    context_s: float = 6.0
    min_period_s: float = 0.7
    max_period_s: float = 3.0
    enter_windows: int = 4
    exit_windows: int = 4
    min_repetitions: int = 5
    merge_s: float = 12.0
    repetitions: RepetitionConfig = field(default_factory=RepetitionConfig)
    calibration: str = DEFAULT_CALIBRATION

    def __post_init__(self) -> None:
        if not self.energy_threshold >= 0:
            raise ConfigError(f"must be >= 0 m/s^2, got {self.energy_threshold}", field="energy_threshold")
        for name in ("periodicity_threshold", "confidence_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"must be in [0, 1], got {value}", field=name)
        if not 0 < self.min_period_s < self.max_period_s:
            raise ConfigError(
                f"need 0 < min_period_s < max_period_s, got {self.min_period_s}, {self.max_period_s}",
                field="min_period_s",
            )
        if not self.context_s >= 2 * self.min_period_s:
            raise ConfigError(f"must hold two shortest periods, got {self.context_s} s", field="context_s")
        if not self.merge_s >= 0:
            raise ConfigError(f"must be >= 0 s, got {self.merge_s}", field="merge_s")
        if self.min_repetitions < 0:
            raise ConfigError(f"must be >= 0, got {self.min_repetitions}", field="min_repetitions")
        for name in ("enter_windows", "exit_windows"):
            if getattr(self, name) < 1:
                raise ConfigError(f"must be >= 1, got {getattr(self, name)}", field=name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionConfig:
        """The inverse of `to_dict` (ConfigError naming an unknown key)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown session setting(s) {unknown}; known: {sorted(known)}", field=unknown[0])
        values = dict(data)
        if isinstance(values.get("repetitions"), dict):
            values["repetitions"] = RepetitionConfig(**values["repetitions"])
        return cls(**values)


_SAID_DEFAULTS: set[str] = set()


def config_for_bundle(manifest: Any) -> SessionConfig:
    """The tracker settings a bundle carries (a `session` mapping in its manifest, SessionConfig.to_dict's keys),
    else the defaults, saying so once per bundle source (log level INFO).

    The manifest format has no session field yet: every bundle today, the embedded one included, uses the
    defaults, which benchmarks/session_tracking.py calibrated for the embedded bundle. Reading it through
    getattr keeps this working unchanged the day `bundle.Manifest` gains the optional field."""
    carried = getattr(manifest, "session", None)
    if carried:
        return SessionConfig.from_dict(dict(carried))
    source = str(getattr(manifest, "source", None) or getattr(manifest, "created", "") or id(manifest))
    if source not in _SAID_DEFAULTS:
        _SAID_DEFAULTS.add(source)
        log.info("the bundle carries no session calibration; the tracker uses its defaults (%s)", DEFAULT_CALIBRATION)
    return SessionConfig()
