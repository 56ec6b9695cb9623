"""Device protocol codecs, registered by name in `PROTOCOLS`: "polar", "infinitime", "metawear", "banglejs",
"mujo" (our own profile). Importing this package registers them all; each needs only numpy."""

# Import order is registration order (the order `PROTOCOLS.names()` lists them in).
from mujo_edge.firmware_bridge.protocols import polar  # isort: skip
from mujo_edge.firmware_bridge.protocols import infinitime  # isort: skip
from mujo_edge.firmware_bridge.protocols import metawear  # isort: skip
from mujo_edge.firmware_bridge.protocols import banglejs  # isort: skip
from mujo_edge.firmware_bridge.protocols import mujo_profile  # isort: skip
from mujo_edge.firmware_bridge.protocols.base import PROTOCOLS, Decoder, Encoder, GattWrite, Protocol, StreamSettings

__all__ = [
    "PROTOCOLS",
    "Decoder",
    "Encoder",
    "GattWrite",
    "Protocol",
    "StreamSettings",
    "banglejs",
    "infinitime",
    "metawear",
    "mujo_profile",
    "polar",
]
