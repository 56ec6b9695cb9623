"""Channel naming, tri-axial streams, and the one channel ordering rule.

Every signal row is `<placement>_<sensor>_<axis>`, e.g. `wrist_acc_x`. The name is what bundles, caches and
the live runtime match on, so it is built in exactly one place (`Channel.name`).

Ordering rule: channels keep the order they are given in, never a sorted one.
- A recording's channels are in its loader's order; selecting by placement/sensor (`ChannelSelection`) keeps
  that order, so windows, normalisers, checkpoints and bundles store the dataset's own order.
- Selecting by name (`Recording.with_channels`, `Windows.with_channels`, `channel_indices`) returns the
  channels in the order of the names asked for: that is how the runtime feeds a bundle its `channels`.
- Tri-axial streams (`triaxial_streams`) come in the order of their first channel; the fine-tuned classifier
  concatenates its stream embeddings in that order, so sorting them would silently break saved checkpoints.
Sets of placements or sensors (a `ChannelSelection` built from a bundle's names) may be sorted: they only
filter, and the order above still applies to what they keep.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mujo_edge.errors import ConfigError, MissingChannelsError
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
            raise ConfigError(
                f"channel {name!r}: unknown sensor {sensor!r} (known: {', '.join(SI_UNITS)})", field="channel"
            )
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


def channel_indices(available: Sequence[str], wanted: Sequence[str], *, source: str | None = None) -> list[int]:
    """Row of each `wanted` name in `available`, in `wanted` order; MissingChannelsError names what is absent."""
    rows = {name: i for i, name in enumerate(available)}
    missing = [c for c in wanted if c not in rows]
    if missing:
        raise MissingChannelsError(missing, list(available), source=source)
    return [rows[c] for c in wanted]


def triaxial_streams(channels: Sequence[str], *, strict: bool = False) -> dict[str, tuple[int, int, int]]:
    """Rows (x, y, z) of each tri-axial stream: `wrist_acc_x/_y/_z` -> {"wrist_acc": (i, j, k)}.

    A stream is a prefix whose `_x`, `_y` and `_z` channels are all present; streams come in the order of
    their first channel. Other channels are skipped, or with `strict` (every channel must belong to a stream,
    as a classifier built from streams needs) ConfigError names the incomplete streams.
    """
    axes_of: dict[str, dict[str, int]] = {}
    loose: list[str] = []
    for i, name in enumerate(channels):
        prefix, _, axis = name.rpartition("_")
        if prefix and axis in AXES:
            axes_of.setdefault(prefix, {}).setdefault(axis, i)
        else:
            loose.append(name)
    if strict and loose:
        raise ConfigError(f"channels {loose} are not the x, y or z of a tri-axial stream", field="channels")
    streams: dict[str, tuple[int, int, int]] = {}
    for prefix, rows in axes_of.items():
        if len(rows) == len(AXES):
            streams[prefix] = (rows[AXES[0]], rows[AXES[1]], rows[AXES[2]])
        elif strict:
            raise ConfigError(f"stream {prefix!r} lacks an axis (has {sorted(rows)})", field="channels")
    return streams
