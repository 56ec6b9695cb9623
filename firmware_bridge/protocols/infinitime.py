"""InfiniTime (PineTime) Motion Service: raw accelerometer notifications.

Payload: int16 little-endian x, y, z; 1 g = 1024 counts (firmware >= 1.15, +-2 g). Any multiple of 6 bytes is
accepted (batched samples were proposed upstream). No timestamp and no sequence number: `t_device` is None and
the client stamps samples with host time. The firmware polls about every 100 ms and notifies only when the
value changes, so the nominal rate is ~10 Hz and irregular. Axes and sign are passed through as the firmware
sends them (taken to be specific force, +1 g on z face up, like the Bosch sensor's own convention).
"""

from __future__ import annotations

import numpy as np

from mujo_edge.firmware_bridge.protocols.base import (
    DEFAULT_MTU,
    PROTOCOLS,
    Decoder,
    Encoder,
    Protocol,
    as_samples,
    max_payload,
)
from mujo_edge.firmware_bridge.samples import AccBatch, counts_to_si, si_to_counts

PROTOCOL = "infinitime"
SERVICE_UUID = "00030000-78fc-48fe-8e23-433b3a1942d0"
STEP_COUNT_UUID = "00030001-78fc-48fe-8e23-433b3a1942d0"
ACCEL_UUID = "00030002-78fc-48fe-8e23-433b3a1942d0"
G_PER_COUNT = 1.0 / 1024.0
NOMINAL_RATE_HZ = 10.0
SAMPLE_BYTES = 6


class InfiniTimeDecoder(Decoder):
    """Motion service payload (k x 6 bytes) -> AccBatch of k samples, no device times."""

    protocol = PROTOCOL

    def decode(self, payload: bytes) -> AccBatch:
        packet = bytes(payload)
        if not packet or len(packet) % SAMPLE_BYTES:
            raise self._error(f"{len(packet)} bytes is not a whole number of 6-byte samples", "length", packet)
        counts = np.frombuffer(packet, dtype="<i2").reshape(-1, 3)
        return AccBatch(None, counts_to_si(counts, G_PER_COUNT), device_rate_hz=NOMINAL_RATE_HZ, raw=packet)


class InfiniTimeEncoder(Encoder):
    """Samples -> motion service payloads of `samples_per_payload` samples (1 = what the firmware sends)."""

    protocol = PROTOCOL

    def __init__(self, samples_per_payload: int = 1) -> None:
        self.samples_per_payload = max(1, samples_per_payload)

    def quantise(self, xyz: np.ndarray) -> np.ndarray:
        return counts_to_si(si_to_counts(as_samples(xyz)[0], G_PER_COUNT, -32768, 32767), G_PER_COUNT)

    def encode(self, xyz: np.ndarray, t_device: np.ndarray | None = None, *, mtu: int = DEFAULT_MTU) -> list[bytes]:
        x, _ = as_samples(xyz, t_device)
        counts = si_to_counts(x, G_PER_COUNT, -32768, 32767).astype("<i2")
        per = min(self.samples_per_payload, max_payload(mtu) // SAMPLE_BYTES)
        return [counts[i : i + per].tobytes() for i in range(0, counts.shape[0], per)]


PROTOCOLS.register(
    PROTOCOL,
    Protocol(
        name=PROTOCOL,
        description="InfiniTime (PineTime) motion service: raw int16 acceleration, ~10 Hz, no timestamps",
        service_uuid=SERVICE_UUID,
        data_uuid=ACCEL_UUID,
        control_uuid=None,
        nominal_rates_hz=(NOMINAL_RATE_HZ,),
        ranges_g=(2,),
        has_device_timestamps=False,
        has_sequence_numbers=False,
        decoder=lambda s: InfiniTimeDecoder(),
        encoder=lambda s: InfiniTimeEncoder(),
        start_writes=lambda s, mtu: [],  # the firmware streams to any subscriber; nothing to write
        stop_writes=lambda: [],
        other_uuids={"step_count": STEP_COUNT_UUID},
    ),
)
