"""A typed registry keyed by name: datasets, export formats, engines, device protocols.

Entries are looked up by their exact name, never by position or by a substring of a name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from mujo_edge.errors import ConfigError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """An ordered mapping name -> entry of one kind (`kind` is used in error messages)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if not name or name != name.strip():
            raise ConfigError(f"invalid {self.kind} name {name!r}", field="name")
        if name in self._entries:
            raise ConfigError(f"{self.kind} '{name}' is registered twice", field="name")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[T]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)
