"""Polar PMD: published example frames, control point commands/responses, timestamps, delta compression."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from mujo_edge.firmware_bridge.errors import ProtocolError
from mujo_edge.firmware_bridge.protocols import polar_control as pc
from mujo_edge.firmware_bridge.protocols.polar import PolarAccDecoder, PolarAccEncoder, decode_delta_body
from mujo_edge.firmware_bridge.samples import STANDARD_GRAVITY as G

# --- Published frames: Polar's Android SDK test AccDataTest.kt (polarofficial/polar-ble-sdk,
# sources/Android/android-communications/library/src/test/java/com/polar/androidcommunications/api/ble/model/
# gatt/client/pmd/model/AccDataTest.kt, commit 0aabf34a84cd3760ed5de52350a91340659ace95). Bytes and expected
# values only; the decoder is our own.
TS_2E9 = bytes.fromhex("0094357700000000")  # 2_000_000_000 ns
RAW1_BODY = bytes.fromhex(
    "F7FFFFFFE703F8FFFEFFE503F9FFFFFFE503FAFFFFFFE603FAFFFEFFE603F9FFFFFFE503F8FFFFFFE603F8FFFEFFE603FAFFFFFFE503"
    "FAFFFFFFE703FAFFFFFFE503F8FFFFFFE603F7FFFFFFE603F8FFFEFFE603F9FFFEFFE703F9FF0000E603F9FFFFFFE603F7FFFEFFE503"
    "F9FFFFFFE503F9FFFFFFE503FAFF0000E603F9FFFEFFE603F8FFFFFFE603F8FFFFFFE503F9FFFFFFE603F9FFFFFFE503FAFFFFFFE603"
    "F9FFFFFFE503F9FFFFFFE503F8FFFEFFE603F9FFFFFFE603F9FFFFFFE603F9FF0000E503F9FFFEFFE603F8FFFEFFE603F7FFFEFFE603"
)
DELTA0_BODY = bytes.fromhex(
    "7107F06A9E8D0A38BE5CBEBA2F96B3EE4BE5ADFB42B9EBBE4CFEBA2F92BFEE4BE4B1FB12B9ECBD3C3EBB2F8FD3DE4BE3B5F7D2B8EDBD30"
    "7E7B2F8BE3CE8BE2BAF7A2B8EEBC20BE7B2F88F3CECBE1BDEF52F8EFBC18FE3B2F8403BFCBE0C2EF32B8F0BB044EBC2E8113AF0BE0C6EF"
    "F2F7F1B9FC7DBC2E7D279F4BDFCAEBC2F7F2B8ECCD7C2E7B378F4BDECEE392F7F3B8E00DFD2D774B7FCBDDD2DF6237F5B7D44DBD2D745B"
    "6FCBDCD7D73237F6B5C88D7D2D716B4F4BDCDCD3F236F7B4BCDDFD2C6F7B3F4BDBE0CFD236F8B2B02DBE2C6C8F1FCBDAE3C7A276F9"
)
DELTA1_FRAME = bytes.fromhex("02650000000000000081F1FF1400F00306017B0F08")


def test_published_raw_type1_frame() -> None:
    assert len(RAW1_BODY) % 6 == 0
    dec = PolarAccDecoder(52.0)
    batch = dec.decode(b"\x02" + TS_2E9 + b"\x01" + RAW1_BODY)
    mg = batch.xyz / G * 1000
    assert len(batch) == len(RAW1_BODY) // 6
    np.testing.assert_allclose(mg[:2], [[-9, -1, 999], [-8, -2, 997]], atol=1e-9)
    assert batch.t_device[-1] == pytest.approx(2.0, abs=1e-12)  # the frame time stamps the LAST sample
    np.testing.assert_allclose(np.diff(batch.t_device), 1 / 52)  # first frame: nominal rate
    assert batch.seq is None and batch.device_rate_hz == 52.0


def test_published_compressed_type0_frame() -> None:
    factor = float(np.float32(2.44e-4))
    dec = PolarAccDecoder(52.0, factor=factor)
    dec.last_timestamp_ns = 100  # the SDK test's previous frame time
    counts, blocks = decode_delta_body(DELTA0_BODY)
    assert blocks == [(10, 56)] and counts.shape == (57, 3)
    np.testing.assert_array_equal(counts[0], [1905, 27376, -29282])
    np.testing.assert_array_equal(counts[1], [1905 + 190, 27376 - 105, -29282 - 85])
    batch = dec.decode(b"\x02" + TS_2E9 + b"\x80" + DELTA0_BODY)
    mg = batch.xyz / G * 1000
    np.testing.assert_allclose(mg[:2], counts[:2] * factor * 1000, rtol=1e-12)
    assert np.abs(mg).max() <= 8 * 1000  # the SDK test's range check (+-8 g)
    expected_first = (100 + (2_000_000_000 - 100) / 57) / 1e9
    assert batch.t_device[0] == pytest.approx(expected_first, abs=1e-12)
    assert batch.t_device[-1] == pytest.approx(2.0, abs=1e-12)


def test_published_compressed_type1_frame() -> None:
    dec = PolarAccDecoder(52.0)  # no factor: counts are mG (the SDK test uses factor 1)
    dec.last_timestamp_ns = 100
    batch = dec.decode(DELTA1_FRAME)
    np.testing.assert_allclose(batch.xyz / G * 1000, [[-15, 20, 1008], [-20, 17, 1008]], atol=1e-9)
    # The SDK rounds to whole ns (100, 101); spread evenly over (100, 101] ns that is 100.5, 101.
    np.testing.assert_allclose(batch.t_device * 1e9, [100.5, 101.0], atol=1e-3)


def test_timestamps_spread_over_previous_frame_interval() -> None:
    enc = PolarAccEncoder(50.0, frame_type=0x01)
    t = 1000.0 + np.arange(40) * 0.02 + np.r_[np.zeros(20), np.full(20, 0.004)]  # second frame's clock runs 4 ms late
    frames = enc.encode(np.zeros((40, 3)), t, mtu=10 + 3 + 20 * 6)
    assert len(frames) == 2
    dec = PolarAccDecoder(50.0)
    first, second = dec.decode(frames[0]), dec.decode(frames[1])
    np.testing.assert_allclose(first.t_device, t[:20], atol=1e-6)  # first frame: nominal 50 Hz back from its stamp
    step = (t[39] - t[19]) / 20
    np.testing.assert_allclose(second.t_device, t[19] + step * np.arange(1, 21), atol=1e-6)


def test_gap_falls_back_to_nominal_rate_and_backwards_time_is_an_error() -> None:
    enc = PolarAccEncoder(50.0)
    t = np.r_[np.arange(10) * 0.02, 60 + np.arange(10) * 0.02]
    a, b = enc.encode(np.zeros((20, 3)), t, mtu=10 + 3 + 60)
    dec = PolarAccDecoder(50.0)
    dec.decode(a)
    np.testing.assert_allclose(np.diff(dec.decode(b).t_device), 0.02, atol=1e-6)
    with pytest.raises(ProtocolError, match="timestamp"):
        dec.decode(a)


@pytest.mark.parametrize("frame_type", [0x00, 0x01, 0x02, 0x80, 0x81])
def test_round_trip_every_frame_type(frame_type: int) -> None:
    rng = np.random.default_rng(frame_type)
    factor = 2.44e-4 if frame_type == 0x81 else None
    enc = PolarAccEncoder(52.0, frame_type=frame_type, factor=factor)
    dec = PolarAccDecoder(52.0, factor=factor)
    for mtu in (23, 64, 247):
        x = np.cumsum(rng.normal(0, 0.5, (300, 3)), axis=0)
        frames = enc.encode(x, mtu=mtu)
        assert all(len(f) <= mtu - 3 for f in frames)
        got = [dec.decode(f) for f in frames]
        np.testing.assert_array_equal(np.concatenate([b.xyz for b in got]), enc.quantise(x))
        t = np.concatenate([b.t_device for b in got])
        np.testing.assert_allclose(np.diff(t), 1 / 52, atol=2e-6)


def test_delta_compression_with_several_bit_widths() -> None:
    rng = np.random.default_rng(3)
    steps = np.concatenate([rng.integers(-s, s + 1, (16, 3)) for s in (0, 1, 3, 20, 300, 5000, 30000)])
    counts = np.clip(np.cumsum(steps, axis=0), -32768, 32767)
    enc = PolarAccEncoder(52.0, frame_type=0x80, block_samples=16)
    frames = enc.encode(counts * 1e-3 * G, mtu=517)
    widths = set()
    got = []
    for f in frames:
        c, blocks = decode_delta_body(f[10:])
        widths |= {w for w, _ in blocks}
        got.append(c)
    assert len(widths) >= 5 and min(widths) <= 2 and max(widths) >= 16  # e.g. {2, 3, 5, 9, 12, 16}
    np.testing.assert_array_equal(np.concatenate(got), counts)


def test_truncated_and_malformed_frames_raise_protocol_error() -> None:
    dec = PolarAccDecoder(52.0)
    valid = b"\x02" + TS_2E9 + b"\x01" + RAW1_BODY
    for bad, field in [
        (valid[:20], "length"),  # cut by a 20-byte MTU: not a whole number of samples
        (valid[:10], "length"),
        (b"\x01" + valid[1:], "measurement_type"),
        (valid[:9] + b"\x05" + valid[10:], "frame_type"),
        (DELTA1_FRAME[:-1], "length"),
        (DELTA1_FRAME[:-5] + b"\x00\x01", "delta_block"),
        (DELTA1_FRAME + b"\x06", "length"),
    ]:
        with pytest.raises(ProtocolError) as info:
            dec.decode(bad)
        assert info.value.field == field and info.value.packet == bad and info.value.protocol == "polar"


def test_control_commands_match_the_documented_bytes() -> None:
    assert pc.build_start(sample_rate=50, resolution=16, range_g=8) == bytes.fromhex("0202000132000101100002010800")
    assert pc.build_get_settings() == b"\x01\x02"
    assert pc.build_stop() == b"\x03\x02"


def test_control_responses_parse() -> None:
    features = pc.parse_control(bytes([0x0F, 0b0000_0101, 0x00]))
    assert features.types == {0, 2} and features.names == {"ECG", "ACC"}
    settings = bytes.fromhex("F0010200000004190032006400C800") + bytes.fromhex("010110000203020004000800")
    resp = pc.parse_control(settings)
    assert resp.ok and resp.status_name == "SUCCESS" and resp.op is pc.ControlOp.GET_SETTINGS
    assert resp.settings.sample_rates == (25, 50, 100, 200)
    assert resp.settings.resolutions == (16,) and resp.settings.ranges == (2, 4, 8)
    start = pc.parse_control(bytes.fromhex("F0020200000501") + struct.pack("<f", 2.44e-4))
    assert start.settings.factor == pytest.approx(2.44e-4)
    dec = PolarAccDecoder(52.0)
    dec.configure(start.settings)
    assert dec.factor == pytest.approx(2.44e-4)
    charger = pc.parse_control(bytes.fromhex("F002020D00"))
    assert not charger.ok and charger.status_name == "DEVICE_IN_CHARGER"
    assert pc.parse_control(bytes.fromhex("F002020600")).status_name == "ALREADY_IN_STATE"
    assert pc.parse_control(b"\x01\x02").types == (2,)


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\x0f",
        b"\x01",
        b"\xf0\x01\x02",
        b"\xf0\x09\x02\x00",
        b"\x42\x00",
        bytes.fromhex("F00102000000"),
        bytes.fromhex("F0010200000002"),
        bytes.fromhex("F001020000090100"),
        bytes.fromhex("F00202000005010000c0ff"),  # NaN factor
    ],
)
def test_bad_control_responses_raise_protocol_error(bad: bytes) -> None:
    with pytest.raises(ProtocolError):
        pc.parse_control(bad)
