"""Errors of the bridge: every malformed packet becomes one `ProtocolError`; the simulated radio has its own."""

from __future__ import annotations

from mujo_edge.errors import MujoEdgeError

# Bytes of the offending packet shown in the message; the full packet stays on the exception.
_SHOWN_BYTES = 32


class ProtocolError(MujoEdgeError):
    """A packet (or command response) that does not follow its protocol.

    `protocol` is the registry name ("polar", "metawear", ...), `field` the part of the packet that is wrong
    (e.g. "length", "frame_type", "seq"), `reason` the human explanation and `packet` the offending bytes,
    kept whole (the message shows them as hex, truncated).
    """

    def __init__(
        self, reason: str, *, protocol: str, field: str | None = None, packet: bytes | bytearray = b""
    ) -> None:
        self.reason = reason
        self.protocol = protocol
        self.field = field
        self.packet = bytes(packet)
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.protocol}" + (f", field '{self.field}'" if self.field else "")
        shown = self.packet[:_SHOWN_BYTES].hex(" ")
        more = f" ... (+{len(self.packet) - _SHOWN_BYTES} bytes)" if len(self.packet) > _SHOWN_BYTES else ""
        return f"{where}: {self.reason} [packet {len(self.packet)} bytes: {shown}{more}]"


class SimLinkError(MujoEdgeError, ConnectionError):
    """The simulated radio cannot be reached: nothing accepts connections at `host`:`port`.

    Also a `ConnectionError`, which is what callers caught before this type existed.
    """

    def __init__(self, reason: str, *, host: str, port: int) -> None:
        self.reason = reason
        self.host = host
        self.port = port
        super().__init__(f"no Bumble controller at tcp {host}:{port}: {reason}")


class PeripheralStateError(MujoEdgeError, RuntimeError):
    """A virtual peripheral used in a state that does not allow it (e.g. advertising before `start()`).

    Also a `RuntimeError`, which is what callers caught before this type existed.
    """

    def __init__(self, reason: str, *, name: str, address: str) -> None:
        self.reason = reason
        self.name = name
        self.address = address
        super().__init__(f"peripheral {name} ({address}): {reason}")
