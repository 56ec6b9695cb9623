"""Every registered protocol: known-answer frames, round trips, MTU truncation, fuzzing (only ProtocolError)."""

from __future__ import annotations

import contextlib
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mujo_edge.errors import ConfigError, UnknownNameError
from mujo_edge.firmware_bridge.errors import ProtocolError
from mujo_edge.firmware_bridge.protocols import PROTOCOLS, Decoder, Encoder, StreamSettings
from mujo_edge.firmware_bridge.protocols import polar_control as pc
from mujo_edge.firmware_bridge.protocols.infinitime import InfiniTimeDecoder, InfiniTimeEncoder
from mujo_edge.firmware_bridge.protocols.metawear import MetaWearDecoder, MetaWearEncoder, build_config
from mujo_edge.firmware_bridge.protocols.mujo_profile import (
    DeviceState,
    MujoConfig,
    MujoDecoder,
    MujoEncoder,
    MujoStatus,
)
from mujo_edge.firmware_bridge.samples import STANDARD_GRAVITY as G
from mujo_edge.firmware_bridge.samples import AccBatch
from mujo_edge.units import STANDARD_GRAVITY

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["polar", "infinitime", "metawear", "banglejs", "mujo"]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def codec(name: str) -> tuple[Encoder, Callable[[], Decoder], float]:
    """(encoder, decoder factory, full-scale m/s^2) for a protocol at its typical settings."""
    proto = PROTOCOLS.get(name)
    rate = 10.0 if name == "infinitime" else (52.0 if name == "polar" else 50.0)
    rng_g = {"infinitime": 2, "banglejs": 4}.get(name, 8)
    s = StreamSettings(rate, rng_g)
    return proto.encoder(s), (lambda: proto.decoder(s)), 0.95 * rng_g * G


def decode_all(dec: Decoder, frames: list[bytes]) -> list[AccBatch]:
    return [dec.decode(f) for f in frames]


def check_outcome(dec: Decoder, payload: bytes) -> None:
    """A payload decodes to a well-formed AccBatch or raises ProtocolError; anything else fails the test."""
    try:
        batch = dec.decode(payload)
    except ProtocolError as err:
        assert err.packet is not None and isinstance(str(err), str)
        return
    assert isinstance(batch, AccBatch)
    assert batch.xyz.shape == (len(batch), 3) and batch.xyz.dtype == np.float64
    assert np.all(np.isfinite(batch.xyz))
    if batch.t_device is not None:
        assert batch.t_device.shape == (len(batch),) and np.all(np.isfinite(batch.t_device))


# ----------------------------------------------------------------------------------------------- registry


def test_registry_lists_every_protocol_in_order() -> None:
    assert PROTOCOLS.names() == NAMES
    for p in PROTOCOLS:
        assert p.service_uuid == p.service_uuid.lower() and len(p.service_uuid) == 36
        assert p.data_uuid != p.service_uuid
    with pytest.raises(UnknownNameError):
        PROTOCOLS.get("pola")


def test_gravity_matches_core_units() -> None:
    assert G == STANDARD_GRAVITY


@pytest.mark.parametrize("name", NAMES)
def test_start_writes_fit_the_mtu_and_bad_settings_are_config_errors(name: str) -> None:
    proto = PROTOCOLS.get(name)
    ok = StreamSettings(proto.nominal_rates_hz[0], proto.ranges_g[0])
    for w in proto.start_writes(ok, 23) + proto.stop_writes():
        assert len(w.value) <= 20 and w.characteristic == w.characteristic.lower()
    if name == "infinitime":  # nothing to configure: the firmware sends ~10 Hz whatever the host wants
        assert proto.start_writes(StreamSettings(50.0, 8), 23) == []
        return
    with pytest.raises(ConfigError):
        proto.start_writes(StreamSettings(3.0, proto.ranges_g[0]), 23)


# ------------------------------------------------------------------------------------------ known answers


def test_infinitime_known_answer() -> None:
    payload = struct.pack("<3h", 0, 0, 1024) + struct.pack("<3h", -512, 256, -1024)  # hand-computed
    batch = InfiniTimeDecoder().decode(payload)
    np.testing.assert_allclose(batch.xyz, [[0, 0, G], [-G / 2, G / 4, -G]])
    assert batch.t_device is None and batch.device_rate_hz == 10.0


def test_metawear_published_frames() -> None:
    # Frames and expected g from MetaWear-SDK-Cpp test/test_accelerometer_bmi160.py (mbientlab/MetaWear-SDK-Cpp,
    # TestBmi160AccelerationData at +-4 g, TestBmi160HighFreqAccData at +-8 g).
    single = MetaWearDecoder(range_g=4).decode(bytes.fromhex("030416c494a22ad0"))
    np.testing.assert_allclose(single.xyz[0] / G, [-1.872, -2.919, -1.495], atol=5e-4)
    packed = MetaWearDecoder(range_g=8).decode(bytes.fromhex("031c62b7530de9fd16d04d0e57028affa1050a01"))
    np.testing.assert_allclose(
        packed.xyz / G, [[-4.539, 0.833, -0.131], [-2.995, 0.894, 0.146], [-0.029, 0.352, 0.065]], atol=5e-4
    )
    # Command bytes from the same SDK test (ODR 50 Hz = 0x27, 200 Hz + 8 g = 29 08, 16 g = 0x0c).
    assert build_config(200.0, 8) == bytes.fromhex("03032908")
    assert build_config(100.0, 16) == bytes.fromhex("0303280c")
    assert build_config(50.0, 2) == bytes.fromhex("03032703")
    writes = PROTOCOLS.get("metawear").start_writes(StreamSettings(50.0, 4), 23)
    assert [w.value.hex() for w in writes] == ["03032705", "03020100", "031c01", "030101"]


def test_mujo_known_answer_and_sequence_handling() -> None:
    header = struct.pack("<BBHIBB", 1, 2, 7, 1_000_000, 2, 2)  # v1, 2 samples, seq 7, t0 1 s, 50 Hz, +-8 g
    payload = header + struct.pack("<6h", 0, 0, 4096, -4096, 0, 0)
    dec = MujoDecoder()
    batch = dec.decode(payload)
    np.testing.assert_allclose(batch.xyz, [[0, 0, G], [-G, 0, 0]])
    np.testing.assert_allclose(batch.t_device, [1.0, 1.02])
    assert batch.seq == 7 and batch.lost_before == 0
    with pytest.raises(ProtocolError, match="repeats"):
        dec.decode(payload)  # same seq again
    later = struct.pack("<BBHIBB", 1, 1, 10, 1_100_000, 2, 2) + bytes(6)
    assert dec.decode(later).lost_before == 2  # seq 8 and 9 missing
    with pytest.raises(ProtocolError, match="count"):
        dec.decode(struct.pack("<BBHIBB", 1, 3, 11, 1_200_000, 2, 2) + bytes(12))  # declares 3, holds 2
    with pytest.raises(ProtocolError, match="version"):
        dec.decode(struct.pack("<BBHIBB", 2, 1, 11, 1_200_000, 2, 2) + bytes(6))


def test_mujo_time_unwraps_and_seq_wraps() -> None:
    enc = MujoEncoder(50.0, 8, start_seq=0xFFFE, start_us=(1 << 32) - 30_000)
    dec = MujoDecoder()
    got = decode_all(dec, enc.encode(np.zeros((4, 3)), mtu=23))
    assert [b.seq for b in got] == [0xFFFE, 0xFFFF, 0, 1] and all(b.lost_before == 0 for b in got)
    t = np.concatenate([b.t_device for b in got])
    np.testing.assert_allclose(np.diff(t), 0.02, atol=1e-9)


def test_mujo_config_and_status() -> None:
    cfg = MujoConfig(100.0, 4, True)
    assert MujoConfig.decode(cfg.encode()) == cfg and cfg.encode() == bytes([1, 3, 1, 1])
    status = MujoStatus(DeviceState.STREAMING, 87, 12)
    assert MujoStatus.decode(status.encode()) == status
    assert MujoStatus.decode(MujoStatus(DeviceState.IDLE, None, 0).encode()).battery_pct is None
    for bad in (b"", bytes([1, 9, 1, 1]), bytes([2, 2, 2, 1]), bytes([1, 2, 2, 1, 0])):
        with pytest.raises(ProtocolError):
            MujoConfig.decode(bad)
    with pytest.raises(ProtocolError):
        MujoStatus.decode(bytes([1, 1, 150, 0, 0, 0, 0, 0]))


# ------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mtu", [23, 64, 247])
def test_round_trip_is_exact_after_quantisation(name: str, mtu: int) -> None:
    rng = np.random.default_rng(mtu)
    enc, make_decoder, full_scale = codec(name)
    dec = make_decoder()
    for n in (1, 2, 7, 50, 333):
        x = rng.uniform(-full_scale, full_scale, (n, 3))
        frames = enc.encode(x, mtu=mtu)
        assert all(0 < len(f) <= mtu - 3 for f in frames)
        got = decode_all(dec, frames)
        np.testing.assert_array_equal(np.concatenate([b.xyz for b in got]), enc.quantise(x))
        assert all(b.lost_before == 0 for b in got)
    # quantisation error is at most half a count (no saturation inside the range)
    x = rng.uniform(-full_scale, full_scale, (200, 3))
    assert np.abs(enc.quantise(x) - x).max() < 0.005 * G


@pytest.mark.parametrize("name", ["polar", "banglejs", "mujo"])
def test_round_trip_device_times(name: str) -> None:
    enc, make_decoder, _ = codec(name)
    rate = {"polar": 52.0}.get(name, 50.0)
    t = 5.0 + np.arange(120) / rate
    got = decode_all(make_decoder(), enc.encode(np.zeros((120, 3)), t, mtu=247))
    np.testing.assert_allclose(np.concatenate([b.t_device for b in got]), t, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_saturation_is_clipped_not_wrapped(name: str) -> None:
    enc, make_decoder, _ = codec(name)
    x = np.array([[1e6, -1e6, 0.0]])
    got = np.concatenate([b.xyz for b in decode_all(make_decoder(), enc.encode(x, mtu=247))])
    assert got[0, 0] > 0 > got[0, 1]


# --------------------------------------------------------------------------------------- MTU truncation


@pytest.mark.parametrize("name", ["polar", "infinitime", "metawear", "mujo"])
def test_frame_cut_to_20_bytes_is_a_protocol_error(name: str) -> None:
    enc, make_decoder, _ = codec(name)
    if name == "metawear":
        enc = MetaWearEncoder(8, packed=True)
    elif name == "infinitime":
        enc = InfiniTimeEncoder(samples_per_payload=10)
    frame = enc.encode(np.ones((40, 3)), mtu=247)[0]
    cut = frame[:20] if len(frame) > 20 else frame[:-1]
    if name == "metawear":
        cut = frame[:-1]  # a packed frame is exactly 20 bytes: cut one short
    with pytest.raises(ProtocolError) as info:
        make_decoder().decode(cut)
    assert info.value.field in ("length", "count") and info.value.packet == cut


def test_protocol_error_message_shows_truncated_hex() -> None:
    err = ProtocolError("bad", protocol="mujo", field="length", packet=bytes(range(100)))
    text = str(err)
    assert "mujo" in text and "length" in text and "00 01 02" in text and "(+68 bytes)" in text
    assert len(err.packet) == 100


# ---------------------------------------------------------------------------------------------- fuzzing


def _valid_frames(name: str, seed: int) -> list[bytes]:
    enc, _, full_scale = codec(name)
    x = np.random.default_rng(seed).uniform(-full_scale, full_scale, (30, 3))
    return enc.encode(x, mtu=247) if name != "banglejs" else enc.encode(x, mtu=40)


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.just(0)),
)


def _mutate(frame: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    b = bytearray(frame)
    for op, pos, value in ops:
        i = pos % (len(b) + 1)
        if op == "flip" and b:
            b[i % len(b)] ^= value
        elif op == "cut":
            del b[i:]
        elif op == "insert":
            b.insert(i, value)
        elif op == "delete" and b:
            del b[i % len(b)]
    return bytes(b)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=5))
def test_fuzz_random_bytes(name: str, payloads: list[bytes]) -> None:
    dec = codec(name)[1]()
    for p in payloads:
        check_outcome(dec, p)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(seed=st.integers(0, 2**16), ops=st.lists(st.lists(mutation, min_size=0, max_size=4), min_size=1, max_size=8))
def test_fuzz_mutated_valid_frames(name: str, seed: int, ops: list[list[tuple[str, int, int]]]) -> None:
    frames = _valid_frames(name, seed)
    dec = codec(name)[1]()
    for k, frame in enumerate(frames):
        check_outcome(dec, _mutate(frame, ops[k % len(ops)]))


@FUZZ
@given(
    payload=st.one_of(
        st.binary(max_size=64),
        st.builds(lambda tail: b"\xf0" + tail, st.binary(max_size=40)),
        st.builds(lambda t: bytes.fromhex("F0010200") + t, st.binary(max_size=40)),
    )
)
def test_fuzz_polar_control_and_mujo_characteristics(payload: bytes) -> None:
    for parse in (pc.parse_control, MujoConfig.decode, MujoStatus.decode):
        with contextlib.suppress(ProtocolError):  # a typed refusal is fine; any other exception fails
            parse(payload)


# --------------------------------------------------------------------------------------- house rules


def test_bridge_never_mentions_torch_nor_imports_model_code() -> None:
    bridge = ROOT / "firmware_bridge"
    mine = [
        bridge / "errors.py",
        bridge / "samples.py",
        bridge / "PROFILE.md",
        bridge / "__init__.py",
        *(bridge / "protocols").rglob("*"),
        *(bridge / "watch_apps").rglob("*"),
    ]
    for path in mine:
        if path.is_file() and path.suffix in (".py", ".js", ".md"):
            text = path.read_text(encoding="utf-8")
            assert "import " + "torch" not in text, path
            for forbidden in ("mujo_edge.training", "mujo_edge.export", "mujo_edge.runtime"):
                assert forbidden not in text, (path, forbidden)


def test_protocols_import_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import mujo_edge.firmware_bridge.protocols as p\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "assert 'bleak' not in sys.modules and 'bumble' not in sys.modules\n"
        "print(p.PROTOCOLS.names())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert "polar" in out.stdout


@pytest.mark.parametrize("name", ["polar", "banglejs", "mujo"])
def test_time_going_backwards_raises_once_then_the_stream_reanchors(name: str) -> None:
    enc, make_decoder, _ = codec(name)
    early = enc.encode(np.zeros((10, 3)), 100.0 + np.arange(10) * 0.02, mtu=247)
    if hasattr(enc, "seq"):  # 4000 packets of 10 samples lost on air: the sequence number jumps with the time
        enc.seq += 4000
    late = enc.encode(np.zeros((10, 3)), 100.0 + (40_010 + np.arange(10)) * 0.02, mtu=247)
    restart = enc.encode(np.zeros((40, 3)), 1.0 + np.arange(40) * 0.02, mtu=64)
    dec = make_decoder()
    decode_all(dec, early + late)
    errors, samples = 0, 0
    for frame in restart:  # e.g. the device rebooted: its clock went back
        try:
            samples += len(dec.decode(frame))
        except ProtocolError:
            errors += 1
    # raised once (twice where sequence numbers must agree three times: see continuity), not rejected forever
    assert errors == (2 if PROTOCOLS.get(name).has_sequence_numbers else 1) and samples > 0
