"""Errors raised by the protocol codecs: every malformed packet becomes one `ProtocolError`."""

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

    def __init__(self, reason: str, *, protocol: str, field: str | None = None, packet: bytes | bytearray = b"") -> None:
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
