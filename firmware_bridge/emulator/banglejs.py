"""An emulated Bangle.js 2: an Espruino console on the Nordic UART that runs our streaming app once uploaded.

What the console understands (enough for `banglejs.upload_commands` and `start_command`):
- `\\x03` clears the line being typed; a line starting with `\\x10` is not echoed, other lines are echoed and
  answered with `=undefined`.
- Input is collected into statements until brackets balance, as Espruino does, so the app's multi-line functions
  arrive whole. `reset()` clears the interpreter (and stops a running stream) and prints a banner;
  `function NAME(` defines NAME; `mujoStart(rate, batch)` starts the app once `mujoStart`, `mujoAccel` and
  `mujoSend` are defined (else Espruino's `Uncaught ReferenceError`); `mujoStop()` stops it.
- The app then prints `MJ:<base64>` lines (one per batch) with times in ms since `mujoStart` and a sequence
  number from 0. Like the real app it keeps printing while nobody listens: those lines are lost but use up
  sequence numbers, so a host that reconnects without re-uploading sees the gap. A re-upload runs `reset()`,
  which restarts both the sequence and the clock.
Console text is always whole lines, sent in order with the data lines (never inside one).
"""

from __future__ import annotations

import re

import numpy as np

from mujo_edge.firmware_bridge.emulator.model import DeviceModel, register
from mujo_edge.firmware_bridge.protocols.banglejs import (
    RATES_HZ,
    RX_UUID,
    SERVICE_UUID,
    TX_UUID,
    BangleEncoder,
)
from mujo_edge.firmware_bridge.protocols.base import ATT_HEADER, Encoder, StreamSettings
from mujo_edge.firmware_bridge.sim.peripheral import CharacteristicSpec, ServiceSpec

APP_FUNCTIONS = ("mujoStart", "mujoAccel", "mujoSend")
BANNER = (
    b"\r\n ____                 _\r\n|  __|___ ___ ___ _ _|_|___ ___\r\n|  __|_ -| . |  _| | | |   | . |\r\n"
    b"|____|___|  _|_| |___|_|_|_|___|\r\n         |_| espruino.com (mujo-edge emulator)\r\n"
)
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')
_FUNCTION = re.compile(r"^\s*function\s+([A-Za-z_$][\w$]*)\s*\(")
_CALL = re.compile(r"^\s*([A-Za-z_$][\w$]*)\s*\(([^()]*)\)\s*;?\s*$")
_OPEN, _CLOSE = "([{", ")]}"


def _depth(text: str) -> int:
    code = _STRINGS.sub('""', text).split("//")[0]
    return sum(code.count(c) for c in _OPEN) - sum(code.count(c) for c in _CLOSE)


@register
class BangleDevice(DeviceModel):
    protocol_name = "banglejs"
    default_name = "Bangle.js 1a2b"
    default_settings = StreamSettings(rate_hz=50.0, range_g=4)
    keeps_running_offline = True

    def __init__(self, watch: object) -> None:
        super().__init__(watch)  # type: ignore[arg-type]
        self.batch = 10
        self.defined: set[str] = set()
        self._line = bytearray()
        self._statement: list[str] = []
        self._depth = 0
        self._session_origin = 0.0

    def services(self) -> list[ServiceSpec]:
        return [
            ServiceSpec(
                SERVICE_UUID,
                (
                    CharacteristicSpec(RX_UUID, ("write", "write-without-response"), on_write=self._on_rx),
                    CharacteristicSpec(TX_UUID, ("notify",)),
                ),
            )
        ]

    def unit_samples(self, settings: StreamSettings, mtu: int) -> int:
        return self.batch  # one printed line per batch, split over as many notifications as it needs

    def make_encoder(self, settings: StreamSettings, previous: Encoder | None) -> Encoder:
        self._session_origin = self.watch.device_clock_now()
        return BangleEncoder(settings.rate_hz, self.batch)

    def device_times(self, device_clock_s: np.ndarray) -> np.ndarray:
        # getTime() - tStart; clamped because the first poll can round to a hair before mujoStart
        return np.maximum(device_clock_s - self._session_origin, 0.0)

    def on_air_times(self, t_device: np.ndarray, settings: StreamSettings) -> np.ndarray:
        t0 = round(float(t_device[0]) * 1000)
        span = round(float(t_device[-1]) * 1000) - t0
        n = len(t_device)
        return (t0 + span * (np.arange(n, dtype=np.float64) / max(n - 1, 1))) / 1000.0

    # console ---------------------------------------------------------------------------------------------

    def _print(self, text: bytes) -> None:
        step = self.watch.mtu() - ATT_HEADER  # the UART is a byte stream: split it like the data lines
        for i in range(0, len(text), step):
            self.watch.send_control(TX_UUID, text[i : i + step])

    def _on_rx(self, value: bytes) -> None:
        for byte in value:
            if byte == 0x03:  # Ctrl-C: drop the half-typed line
                self._line.clear()
            elif byte == 0x0A:
                self._on_line(bytes(self._line))
                self._line.clear()
            else:
                self._line.append(byte)

    def _on_line(self, raw: bytes) -> None:
        quiet = raw.startswith(b"\x10")
        text = raw.lstrip(b"\x10").rstrip(b"\r").decode("utf-8", errors="replace")
        if not quiet:
            self._print(text.encode() + b"\r\n")
        self._statement.append(text)
        self._depth += _depth(text)
        if self._depth > 0:
            return
        statement, self._statement, self._depth = "\n".join(self._statement), [], 0
        reply = self._execute(statement)
        if reply is not None:
            if reply.startswith(b"Uncaught"):
                self.watch.record_event(f"banglejs: {reply.decode().strip()}", rejected=True)
            self._print(reply)
        elif not quiet and statement.strip():
            self._print(b"=undefined\r\n")

    def _execute(self, statement: str) -> bytes | None:
        match = _FUNCTION.match(statement)
        if match:
            self.defined.add(match.group(1))
            return None
        match = _CALL.match(statement)
        if not match:
            return None  # declarations and anything else: accepted silently
        name, args = match.group(1), [a.strip() for a in match.group(2).split(",") if a.strip()]
        if name == "reset":
            self.defined.clear()
            if self.watch.streaming:
                self.watch.end_stream()
            self.watch.record_event("banglejs: reset()")
            return BANNER
        if name in ("mujoStart", "mujoStop") and not all(f in self.defined for f in APP_FUNCTIONS):
            return f'Uncaught ReferenceError: "{name}" is not defined\r\n'.encode()
        if name == "mujoStop":
            self.watch.end_stream()
            self.watch.record_event("banglejs: mujoStop()")
        elif name == "mujoStart":
            try:
                rate = float(args[0]) if args else 50.0
                batch = int(args[1]) if len(args) > 1 else 10
            except ValueError:
                return b"Uncaught SyntaxError: Got ID expected number\r\n"
            if rate not in RATES_HZ or not 1 <= batch <= 255:
                # The real app would index MUJO_ODR with an unknown rate and throw.
                return f"Uncaught Error: unsupported rate {rate:g} or batch {batch}\r\n".encode()
            self.batch = batch
            self.watch.begin_stream(StreamSettings(rate, self.default_settings.range_g), new_session=True)
            self.watch.record_event(f"banglejs: mujoStart({rate:g},{batch})")
        return None
