"""One error hierarchy for everything mujo-edge raises on purpose.

Every error carries the data a user needs to fix the problem (which file, which line, which field),
so the CLI can print one clear line and library callers can react programmatically.
"""

from __future__ import annotations

from pathlib import Path


class MujoEdgeError(Exception):
    """Base class of every error mujo-edge raises deliberately."""


class DataError(MujoEdgeError):
    """Input data that cannot be used as it is.

    `path` is the offending file or folder, `line` the 1-based line in a text file (or None),
    `field` the column, key or attribute concerned (or None).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f", line {self.line}"
        if self.field is not None:
            where += f"{', ' if where else ''}field '{self.field}'"
        return f"{where}: {self.message}" if where else self.message


class DataNotFoundError(DataError):
    """A file or folder that should exist does not."""


class LayoutError(DataError):
    """A file or folder exists but is not in the layout the loader expects."""


class SampleError(DataError):
    """Samples that are not finite, timestamps that go backwards or repeat, empty recordings."""


class ConfigError(MujoEdgeError):
    """A configuration value that is out of range or inconsistent; `field` names it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class UnknownNameError(MujoEdgeError):
    """A name looked up in a registry (dataset, format, engine, protocol) that is not there."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = known
        super().__init__(f"unknown {kind} '{name}'; known: {', '.join(known) or '(none)'}")


class SplitError(MujoEdgeError):
    """A split that would put a subject in two parts, or cannot be made from the subjects given."""


class CheckpointError(MujoEdgeError):
    """A checkpoint file that cannot be used: the wrong kind, a version this code does not read, a missing key.

    `path` is the file, `version` the version found in it (None when it has none), `field` the key concerned.
    """

    def __init__(self, message: str, *, path: str | Path, version: object = None, field: str | None = None) -> None:
        self.message = message
        self.path = str(path)
        self.version = version
        self.field = field
        where = self.path + (f", version {version!r}" if version is not None else "")
        where += f", field '{field}'" if field else ""
        super().__init__(f"{where}: {message}")


class MissingChannelsError(ConfigError):
    """Channels asked for by name that the data lacks; `missing` and `available` list them, `source` names
    the recording or data concerned (or None)."""

    def __init__(
        self, missing: list[str] | tuple[str, ...], available: list[str] | tuple[str, ...], *, source: str | None = None
    ) -> None:
        self.missing = tuple(missing)
        self.available = tuple(available)
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}no channels {list(self.missing)} (has {list(self.available)})", field="channels")


class ExportError(DataError):
    """A converter step that could not produce a model file (recorded as the artifact's `notes`).

    `path` is the file it needed or wrote, `field` the setting concerned (e.g. `calib`).
    """


class BenchError(MujoEdgeError):
    """A benchmark worker that crashed or printed no result."""
