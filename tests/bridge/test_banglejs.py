"""Bangle.js: line reassembly, our app's line format, the uploaded JavaScript."""

from __future__ import annotations

import base64
import struct

import numpy as np
import pytest

from mujo_edge.firmware_bridge.errors import ProtocolError
from mujo_edge.firmware_bridge.protocols import PROTOCOLS, StreamSettings
from mujo_edge.firmware_bridge.protocols.banglejs import (
    RX_UUID,
    BangleDecoder,
    BangleEncoder,
    LineReassembler,
    upload_commands,
    watch_app_source,
)
from mujo_edge.firmware_bridge.samples import STANDARD_GRAVITY as G


def line(seq: int, t0_ms: int, span_ms: int, samples: list[tuple[int, int, int]], rate_dhz: int = 500) -> bytes:
    packet = struct.pack("<BHIHHB", 1, seq, t0_ms, span_ms, rate_dhz, len(samples))
    packet += b"".join(struct.pack("<3h", *s) for s in samples)
    return b"MJ:" + base64.b64encode(packet) + b"\r\n"


def test_reassembler_joins_lines_split_across_notifications() -> None:
    r = LineReassembler(max_line=16)
    assert r.feed(b"ab") == []
    assert r.feed(b"c\r\nde") == [b"abc"]
    assert r.feed(b"f\n\ng\n") == [b"def", b"", b"g"]
    assert r.feed(b"h") == []
    assert r.feed(b"\n") == [b"h"]


def test_reassembler_bounds_a_runaway_line_and_resynchronises() -> None:
    r = LineReassembler(max_line=16)
    with pytest.raises(ProtocolError, match="longer than 16"):
        r.feed(b"x" * 20)
    assert r.feed(b"still the same runaway line") == []  # discarded up to its newline
    assert r.feed(b"yyy\nok\n") == [b"ok"]
    with pytest.raises(ProtocolError):
        r.feed(b"z" * 30 + b"\n")


def test_known_answer_line() -> None:
    # Hand-computed: Bangle.js reads z = -1000 mg face up (gravity direction) -> +1 g specific force.
    dec = BangleDecoder()
    data = line(5, 2000, 40, [(0, 0, -1000), (500, 0, -1000), (0, -250, 0)])
    batch = dec.decode(data[:7])
    assert len(batch) == 0 and batch.t_device is not None
    batch = dec.decode(data[7:])
    np.testing.assert_allclose(batch.xyz / G, [[0, 0, 1], [-0.5, 0, 1], [0, 0.25, 0]])
    np.testing.assert_allclose(batch.t_device, [2.0, 2.02, 2.04])
    assert batch.seq == 5 and batch.device_rate_hz == 50.0 and batch.lost_before == 0


def test_console_lines_are_skipped_and_sequence_gaps_counted() -> None:
    dec = BangleDecoder()
    stream = b">\r\n=undefined\r\n" + line(1, 0, 0, [(1, 2, 3)]) + line(4, 100, 0, [(1, 2, 3)])
    batch = dec.decode(stream)
    assert dec.console_lines == 2 and batch.seq == 1 and batch.lost_before == 2 and len(batch) == 2
    with pytest.raises(ProtocolError, match="repeats"):
        dec.decode(line(4, 120, 0, [(1, 2, 3)]))
    with pytest.raises(ProtocolError, match="before"):
        dec.decode(line(5, 50, 0, [(1, 2, 3)]))


def test_a_restarted_app_begins_a_new_stream_instead_of_an_error() -> None:
    """After a reconnect, lines of the old session may still arrive before reset() + mujoStart take effect; the
    new session's first line (seq 0, its clock from 0) starts a new stream, and no line counts as lost."""
    dec = BangleDecoder()
    dec.decode(line(881, 17_599, 180, [(1, 2, 3)] * 10))
    batch = dec.decode(line(0, 7, 180, [(4, 5, 6)] * 10))
    assert len(batch) == 10 and batch.seq == 0 and batch.lost_before == 0
    assert dec.decode(line(1, 207, 180, [(4, 5, 6)] * 10)).lost_before == 0
    with pytest.raises(ProtocolError, match="before"):  # a later seq going back in time is still an error
        dec.decode(line(5, 100, 0, [(1, 2, 3)]))


@pytest.mark.parametrize(
    "bad",
    [
        b"MJ:not base64!\n",
        b"MJ:" + base64.b64encode(b"\x01\x00") + b"\n",
        line(1, 0, 0, [(1, 2, 3)])[:-6] + b"\n",  # base64 cut
        line(1, 0, 0, [(1, 2, 3)]).replace(b"MJ:A", b"MJ:B"),  # version 1 -> other
        line(1, 0, 5, [(1, 2, 3)]),  # one sample cannot span 5 ms
        line(1, 0, 0, [(1, 2, 3)], rate_dhz=0),
    ],
)
def test_malformed_lines_raise_protocol_error(bad: bytes) -> None:
    with pytest.raises(ProtocolError):
        BangleDecoder().decode(bad)


def test_encoder_lines_stay_within_the_link_budget() -> None:
    enc = BangleEncoder(50.0, batch=10)
    lines = enc.lines(np.zeros((50, 3)))  # one second at 50 Hz
    assert len(lines) == 5 and sum(map(len, lines)) < 600  # ~0.5 kB/s of the ~2.5 kB/s


def test_watch_app_is_package_data_and_sets_the_rate() -> None:
    js = watch_app_source()
    for needle in (
        "Bangle.setPollInterval(1000 / m.rate)",
        "Bangle.accelWr(0x18",
        "mujoStart",
        "mujoStop",
        '"MJ:"',
        "m.seq",
        "powerSave: false",
        "btoa(",
    ):
        assert needle in js
    assert "20 ms at 50 Hz" in js


def test_upload_commands() -> None:
    cmds = upload_commands()
    assert cmds[0] == b"\x03" and cmds[1] == b"\x10reset();\n"
    assert all(c.startswith(b"\x10") and c.endswith(b"\n") for c in cmds[1:])
    assert not any(c[1:].lstrip().startswith(b"//") for c in cmds[2:])
    assert b"".join(cmds).count(b"{") == b"".join(cmds).count(b"}")  # no line lost
    writes = PROTOCOLS.get("banglejs").start_writes(StreamSettings(50.0, 4), 23)
    assert all(w.characteristic == RX_UUID and len(w.value) <= 20 and not w.response for w in writes)
    assert b"".join(w.value for w in writes).endswith(b"\x10mujoStart(50,10);\n")
    assert any(w.pause_after_s >= 0.5 for w in writes)  # after reset()
