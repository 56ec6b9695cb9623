"""Issue 15, the live path's bridge half: a corrupt packet is a bad packet (counted, skipped), never a gap, and
never a batch the windower cannot use. Every bad input here is generated; loss figures are checked against the
samples that truly did not get through.

Frames are fed to a real `WatchClient` through `receive()` (what the BLE callback calls) on a simulated host
clock, so the decoder -> clock path is the one a live session runs.
"""

from __future__ import annotations

import asyncio
import base64
import struct

import numpy as np
import pytest

from mujo_edge.firmware_bridge.client import DeviceId, WatchClient
from mujo_edge.firmware_bridge.clock import StreamTimer
from mujo_edge.firmware_bridge.errors import ProtocolError
from mujo_edge.firmware_bridge.protocols import StreamSettings
from mujo_edge.firmware_bridge.protocols.banglejs import BangleDecoder, BangleEncoder
from mujo_edge.firmware_bridge.protocols.mujo_profile import HEADER, MujoEncoder
from mujo_edge.firmware_bridge.protocols.polar import PolarAccEncoder
from mujo_edge.firmware_bridge.samples import AccBatch

H0 = 1_700_000_000.0  # host epoch seconds
DELAY = 0.02  # transport delay of every notification (s)


class Fed:
    """A WatchClient with no radio: frames go in through `receive()` at simulated arrival times."""

    def __init__(self, protocol: str, settings: StreamSettings | None = None) -> None:
        self.now = H0
        self.client = WatchClient(protocol, settings=settings, host_clock=lambda: self.now)
        self.client.device = DeviceId("F0:00:00:00:15:01", "hostile", protocol)

    def send(self, payload: bytes, arrival: float) -> int:
        """Deliver one notification; returns the samples the client accepted from it."""
        self.now = max(self.now, arrival)
        before = self.client.timer.samples
        self.client.receive(payload)
        return self.client.timer.samples - before

    @property
    def stats(self):
        return self.client.stats


def signal(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(0, 0.2, (n, 3)), axis=0).clip(-30, 30)


def mujo_packets(n: int, start_s: float = 10.0) -> tuple[list[bytes], list[tuple[int, float]]]:
    """Packets of a 50 Hz mujo stream at MTU 247 and, per packet, (samples, device time of its last sample)."""
    t = start_s + np.arange(n) / 50.0
    frames = MujoEncoder(50.0, 8).encode(signal(n), t, mtu=247)
    sizes = [(len(f) - HEADER.size) // 6 for f in frames]
    ends = np.cumsum(sizes) - 1
    return frames, [(s, float(t[e])) for s, e in zip(sizes, ends)]


def flip(frame: bytes, byte: int, bit: int) -> bytes:
    b = bytearray(frame)
    b[byte] ^= 1 << bit
    return bytes(b)


# --- mujo: sequence numbers and device times must agree ---------------------------------------------------


@pytest.mark.parametrize("bit", range(16))
def test_one_flipped_bit_in_a_mujo_sequence_number_is_a_bad_packet_not_a_gap(bit: int) -> None:
    frames, info = mujo_packets(400)
    fed = Fed("mujo")
    bad = 4
    frames[bad] = flip(frames[bad], 2 + bit // 8, bit % 8)  # seq is the u16 at offset 2
    for f, (_, t_last) in zip(frames, info):
        fed.send(f, H0 + t_last + DELAY)
    s = fed.stats
    assert s.decode_errors == 1, s.last_error
    # the rejected packet's samples are the only ones that did not get through, and they are counted
    assert s.missing_samples == info[bad][0] and s.samples == 400 - info[bad][0]
    assert s.gaps == 1


@pytest.mark.parametrize("bit", range(14, 32))
def test_a_flipped_bit_in_a_mujo_timestamp_is_a_bad_packet(bit: int) -> None:
    frames, info = mujo_packets(400)
    fed = Fed("mujo")
    bad = 5
    frames[bad] = flip(frames[bad], 4 + bit // 8, bit % 8)  # t0_us is the u32 at offset 4
    for f, (_, t_last) in zip(frames, info):
        fed.send(f, H0 + t_last + DELAY)
    s = fed.stats
    assert s.decode_errors == 1, s.last_error
    assert s.missing_samples == info[bad][0] and s.samples == 400 - info[bad][0]


def test_mujo_loss_equals_the_truth_under_drops_and_corruption() -> None:
    frames, info = mujo_packets(2000)
    fed = Fed("mujo")
    rng = np.random.default_rng(7)
    truth = 0
    for i, (f, (n, t_last)) in enumerate(zip(frames, info)):
        fate = rng.random() if 0 < i < len(frames) - 1 else 1.0  # a loss shows only between two packets
        if fate < 0.1:  # lost on air
            truth += n
            continue
        if fate < 0.2:  # a bit flipped in the header: seq, time or both
            f = flip(f, int(rng.integers(2, 8)), int(rng.integers(8)))
        got = fed.send(f, H0 + t_last + DELAY)
        truth += n - got
    s = fed.stats
    assert s.missing_samples == truth and s.samples == 2000 - truth


def test_a_mujo_sequence_jump_the_host_clock_cannot_allow_is_a_bad_packet() -> None:
    """Sequence and device time jump together (each alone would be rejected), but the packet arrives 20 ms after
    the previous one: 100 packets of 39 samples cannot have been sampled in that time."""
    frames, info = mujo_packets(400)
    fed = Fed("mujo")
    for f, (_, t_last) in zip(frames[:3], info[:3]):
        fed.send(f, H0 + t_last + DELAY)
    seq, t0 = struct.unpack_from("<HI", frames[3], 2)
    forged = bytearray(frames[3])
    struct.pack_into("<HI", forged, 2, seq + 100, t0 + round(100 * 39 * 1e6 / 50))
    assert fed.send(bytes(forged), H0 + info[2][1] + DELAY + 0.02) == 0
    for f, (_, t_last) in zip(frames[3:], info[3:]):
        fed.send(f, H0 + t_last + DELAY)
    s = fed.stats
    assert s.decode_errors == 1 and s.missing_samples == 0 and s.samples == 400


def test_a_mujo_device_clock_reset_reanchors_after_two_packets() -> None:
    """A watch whose clock was set back mid-stream (sequence numbers continue): the first two packets on the new
    clock are rejected, the third agrees with them, and the stream goes on from there instead of being refused
    forever (two corrupt packets can agree by chance, three practically cannot)."""
    frames, info = mujo_packets(400, start_s=500.0)
    later, later_info = mujo_packets(400, start_s=3.0)
    enc_seq = len(frames)
    later = [bytes(f[:2]) + struct.pack("<H", (enc_seq + k) & 0xFFFF) + bytes(f[4:]) for k, f in enumerate(later)]
    fed = Fed("mujo")
    for f, (_, t_last) in zip(frames, info):
        fed.send(f, H0 + t_last + DELAY)
    host = H0 + info[-1][1] + DELAY
    accepted = [fed.send(f, host + 0.78 * (k + 1)) for k, f in enumerate(later)]
    assert accepted[:2] == [0, 0] and all(a > 0 for a in accepted[2:])
    assert fed.stats.decode_errors == 2 and fed.stats.samples == 800 - later_info[0][0] - later_info[1][0]


# --- Bangle.js ------------------------------------------------------------------------------------------


def bangle_line(seq: int, t0_ms: int, span_ms: int, count: int, rate_dhz: int = 500) -> bytes:
    packet = struct.pack("<BHIHHB", 1, seq, t0_ms, span_ms, rate_dhz, count) + bytes(6 * count)
    return b"MJ:" + base64.b64encode(packet) + b"\r\n"


@pytest.mark.parametrize(
    ("span_ms", "count"),
    [(0, 4), (0, 2), (1, 10), (65535, 10)],  # no time at all, or 10 samples "at 50 Hz" over 65 s
)
def test_a_bangle_line_whose_span_cannot_hold_its_samples_is_a_bad_packet(span_ms: int, count: int) -> None:
    with pytest.raises(ProtocolError, match="span"):
        BangleDecoder().decode(bangle_line(0, 1000, span_ms, count))


def test_a_bangle_line_with_zero_span_never_reaches_the_windower_as_repeated_times() -> None:
    """The issue's line (valid base64, count 4, span 0): rejected and counted, and the stream goes on."""
    fed = Fed("banglejs")
    fed.send(bangle_line(0, 0, 180, 10), H0 + 0.2)
    assert fed.send(bangle_line(1, 200, 0, 4), H0 + 0.4) == 0
    assert fed.send(bangle_line(2, 400, 180, 10), H0 + 0.6) == 10
    s = fed.stats
    assert s.decode_errors == 1 and s.samples == 20


def test_a_flipped_bit_in_a_bangle_line_never_reports_a_false_gap() -> None:
    enc = BangleEncoder(50.0, batch=10)
    n = 3000
    t = np.arange(n) / 50.0
    lines = enc.lines(signal(n), t)
    rng = np.random.default_rng(3)
    fed = Fed("banglejs")
    truth = 0
    for k, line in enumerate(lines):
        if 0 < k < len(lines) - 1 and rng.random() < 0.2:
            header = 3 + int(rng.integers(0, 16))  # a base64 character of the 12-byte header
            line = line[:header] + bytes([b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"[int(rng.integers(26))]]) + line[header + 1 :]
        got = fed.send(line, H0 + t[10 * k + 9] + DELAY)
        truth += 10 - got
    s = fed.stats
    assert s.missing_samples == truth and s.samples == n - truth


# --- the clock: whatever the decoder lets through, times increase and figures stay true -------------------


def test_timer_times_increase_strictly_even_within_a_batch_of_equal_device_times() -> None:
    timer = StreamTimer(50.0, device_timestamps=True)
    timer.add(AccBatch(np.array([1.0, 1.02]), np.zeros((2, 3)), device_rate_hz=50.0), H0 + 1.03)
    out = timer.add(AccBatch(np.full(4, 1.04), np.zeros((4, 3)), device_rate_hz=50.0), H0 + 1.05)
    assert np.all(np.diff(out.t) > 0) and out.t[0] > H0 + 1.0


def test_timer_rejects_device_times_from_the_future_and_keeps_its_figures() -> None:
    """A device time far ahead of its arrival (a corrupt timestamp) is a bad packet: no gap, no rebase, and the
    next good packet continues exactly."""
    timer = StreamTimer(50.0, device_timestamps=True, protocol="polar")
    for k in range(50):
        t = 5.0 + (10 * k + np.arange(10)) / 50.0
        timer.add(AccBatch(t, np.zeros((10, 3)), device_rate_hz=50.0), H0 + t[-1] + DELAY)
    ahead = 5.0 + 500 + np.arange(10) / 50.0
    with pytest.raises(ProtocolError, match="ahead"):
        timer.add(AccBatch(ahead, np.zeros((10, 3)), device_rate_hz=50.0), H0 + 5.0 + 10.0 + DELAY)
    t = 5.0 + (500 + np.arange(10)) / 50.0
    out = timer.add(AccBatch(t, np.zeros((10, 3)), device_rate_hz=50.0), H0 + t[-1] + DELAY)
    st = timer.stats()
    assert out.missing_samples == 0 and st.gaps == 0 and st.clock_rebases == 0 and st.samples == 510


def test_a_late_burst_is_not_a_gap() -> None:
    """BLE held two notifications back for 1.5 s (retransmissions): jitter, not loss, and no re-anchoring."""
    timer = StreamTimer(50.0, device_timestamps=True)
    for k in range(60):
        t = 5.0 + (10 * k + np.arange(10)) / 50.0
        late = 1.5 if k in (40, 41) else 0.0
        out = timer.add(AccBatch(t, np.zeros((10, 3)), seq=k, device_rate_hz=50.0), H0 + t[-1] + DELAY + late)
        assert out.missing_samples == 0
    st = timer.stats()
    assert st.gaps == 0 and st.clock_rebases == 0


def test_polar_far_future_timestamp_is_one_bad_packet_and_the_stream_continues_exactly() -> None:
    rate = 52.0
    enc = PolarAccEncoder(rate, frame_type=0x01)
    n = 52 * 30
    t = 1e8 + np.arange(n) / rate
    frames = enc.encode(signal(n), t, mtu=247)
    per = [(len(f) - 10) // 6 for f in frames]
    ends = np.cumsum(per) - 1
    fed = Fed("polar", StreamSettings(rate, 8))
    bad = 10
    frames[bad] = flip(frames[bad], 1 + 6, 3)  # bit 51 of the ns timestamp: ~26 days ahead
    for f, e in zip(frames, ends):
        fed.send(f, H0 + t[e] + DELAY)
    s = fed.stats
    assert s.decode_errors == 1, s.last_error
    assert s.missing_samples == per[bad] and s.samples == n - per[bad]


def test_polar_counts_a_loss_too_small_to_stretch_the_next_frame() -> None:
    """A lost 10-sample frame before a 36-sample one stretches it by 1.28 (below the 1.5 a gap used to need),
    and a frame cut short to whole samples leaves its span longer than its samples: both are counted exactly."""
    rate = 52.0
    enc = PolarAccEncoder(rate, frame_type=0x01)
    n = 46 * 22
    t = 1e8 + np.arange(n) / rate
    frames: list[bytes] = []
    for i in range(0, n, 46):  # frames of 36 and 10 samples
        frames += enc.encode(signal(46, i)[:36], t[i : i + 36], mtu=247)
        frames += enc.encode(signal(46, i)[36:], t[i + 36 : i + 46], mtu=247)
    sizes = [(len(f) - 10) // 6 for f in frames]
    ends = np.cumsum(sizes) - 1
    fed = Fed("polar", StreamSettings(rate, 8))
    truth = 0
    for k, (f, e) in enumerate(zip(frames, ends)):
        if k in (5, 11):  # 10-sample frames lost on air
            truth += sizes[k]
            continue
        if k == 20:  # cut to its first 30 samples
            f, truth = f[: 10 + 30 * 6], truth + sizes[k] - 30
        fed.send(f, H0 + t[e] + DELAY)
    assert fed.stats.missing_samples == truth == 26


def test_a_mujo_rate_or_range_the_host_did_not_configure_is_a_bad_packet() -> None:
    """A flipped rate code would time the packet at 100 Hz and count the samples before it at that rate."""
    frames, info = mujo_packets(400)
    fed = Fed("mujo")
    frames[3] = flip(frames[3], 8, 0)  # rate code 2 (50 Hz) -> 3 (100 Hz)
    frames[6] = flip(frames[6], 9, 0)  # range code 2 (+-8 g) -> 3 (+-16 g): every value doubled
    for f, (_, t_last) in zip(frames, info):
        fed.send(f, H0 + t_last + DELAY)
    s = fed.stats
    assert s.decode_errors == 2 and s.missing_samples == info[3][0] + info[6][0]


def test_drain_hands_over_what_was_received_and_keeps_the_end_of_the_stream() -> None:
    frames, info = mujo_packets(200)
    fed = Fed("mujo")
    for f, (_, t_last) in zip(frames[:-1], info[:-1]):
        fed.send(f, H0 + t_last + DELAY)
    got = fed.client.drain()
    assert sum(len(b) for b in got) == fed.stats.samples == 200 - info[-1][0] and fed.client.drain() == []

    async def after_stop() -> tuple[list, list]:
        fed.send(frames[-1], H0 + info[-1][1] + DELAY)  # arrives, then the stream ends before anyone took it
        await fed.client.stop()
        return fed.client.drain(), [b async for b in fed.client.samples()]

    drained, rest = asyncio.run(after_stop())
    assert [len(b) for b in drained] == [info[-1][0]] and rest == []  # samples() still sees the end
