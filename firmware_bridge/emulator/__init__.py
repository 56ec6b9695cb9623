"""Virtual watches for every device protocol, on the simulated BLE radio of `firmware_bridge.sim`.

    watch = VirtualWatch("mujo", t, xyz, speed=20, faults=WatchFaults(drop_packet_prob=0.05))
    async with watch:
        ...  # any bleak client with backend=BumbleClientBackend connects, subscribes and starts the stream
    watch.delivered, watch.lost, watch.stats   # ground truth

Each protocol's device behaviour (GATT database, control protocol, packet size) is a `DeviceModel` registered by
protocol name in `DEVICE_MODELS`; the watch itself owns the clock, pacing and faults. Needs the `sim` and `ble`
extras (bumble). Never imports torch.
"""

# Importing the device modules registers them (registration order = PROTOCOLS order).
from mujo_edge.firmware_bridge.emulator import polar  # isort: skip
from mujo_edge.firmware_bridge.emulator import infinitime  # isort: skip
from mujo_edge.firmware_bridge.emulator import metawear  # isort: skip
from mujo_edge.firmware_bridge.emulator import banglejs  # isort: skip
from mujo_edge.firmware_bridge.emulator import mujo  # isort: skip
from mujo_edge.firmware_bridge.emulator.faults import SampleLog, WatchFaults, WatchStats
from mujo_edge.firmware_bridge.emulator.model import DEVICE_MODELS, DeviceModel, WatchPort
from mujo_edge.firmware_bridge.emulator.watch import DEFAULT_ADDRESS, VirtualWatch, watch_from_recording

__all__ = [
    "DEFAULT_ADDRESS",
    "DEVICE_MODELS",
    "DeviceModel",
    "SampleLog",
    "VirtualWatch",
    "WatchFaults",
    "WatchPort",
    "WatchStats",
    "banglejs",
    "infinitime",
    "metawear",
    "mujo",
    "polar",
    "watch_from_recording",
]
