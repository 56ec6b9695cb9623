"""Channel naming: every signal row is `<placement>_<sensor>_<axis>`, e.g. `wrist_acc_x`.

The name is what bundles, caches and the live runtime match on, so it is built in exactly one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mujo_edge.errors import ConfigError
from mujo_edge.units import SI_UNITS, to_si_factor

AXES = ("x", "y", "z")
_PLACEMENT = re.compile(r"^[a-z][a-z0-9]*$")


@dataclass(frozen=True)
class Channel:
    """One signal row: where the sensor sits, what it measures, which axis, in which unit.

    `unit` is always the SI unit of the sensor; `source_unit` is what the source file used.
    """

    placement: str
    sensor: str
    axis: str
    source_unit: str

    def __post_init__(self) -> None:
        if not _PLACEMENT.match(self.placement):
            raise ConfigError(f"placement must be lower-case letters/digits, got {self.placement!r}", field="placement")
        if self.axis not in AXES:
            raise ConfigError(f"axis must be one of {AXES}, got {self.axis!r}", field="axis")
        to_si_factor(self.source_unit, self.sensor)  # validates sensor and unit together

    @property
    def name(self) -> str:
        return f"{self.placement}_{self.sensor}_{self.axis}"

    @property
    def unit(self) -> str:
        return SI_UNITS[self.sensor]

    @property
    def to_si(self) -> float:
        return to_si_factor(self.source_unit, self.sensor)

    @classmethod
    def parse(cls, name: str, source_unit: str | None = None) -> Channel:
        """Channel from a name like `wrist_acc_x`; the unit defaults to the sensor's SI unit."""
        parts = name.split("_")
        if len(parts) != 3:
            raise ConfigError(f"channel name must be <placement>_<sensor>_<axis>, got {name!r}", field="channel")
        placement, sensor, axis = parts
        if sensor not in SI_UNITS:
            raise ConfigError(f"channel {name!r}: unknown sensor {sensor!r} (known: {', '.join(SI_UNITS)})",
                              field="channel")
        return cls(placement, sensor, axis, source_unit or SI_UNITS[sensor])


def triaxial(placement: str, sensor: str, source_unit: str) -> tuple[Channel, Channel, Channel]:
    """The x, y, z channels of one tri-axial sensor."""
    x, y, z = (Channel(placement, sensor, a, source_unit) for a in AXES)
    return x, y, z


def channel_names(channels: Iterable[Channel]) -> tuple[str, ...]:
    return tuple(c.name for c in channels)


@dataclass(frozen=True)
class ChannelSelection:
    """Which channels to keep: placements and sensors (None = all of them).

    Selection always keeps the recording's own channel order, so two recordings selected the same
    way line up row for row.
    """

    placements: tuple[str, ...] | None = None
    sensors: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for s in self.sensors or ():
            if s not in SI_UNITS:
                raise ConfigError(f"unknown sensor {s!r} (known: {', '.join(SI_UNITS)})", field="sensors")

    def matches(self, channel: Channel) -> bool:
        return (self.placements is None or channel.placement in self.placements) and (
            self.sensors is None or channel.sensor in self.sensors
        )

    def indices(self, channels: Sequence[Channel]) -> list[int]:
        return [i for i, c in enumerate(channels) if self.matches(c)]

    def describe(self) -> str:
        p = ",".join(self.placements) if self.placements else "all placements"
        s = ",".join(self.sensors) if self.sensors else "all sensors"
        return f"{p} / {s}"
