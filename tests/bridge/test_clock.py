"""Device clock -> host clock mapping, gap counting and stream statistics on synthetic clocks with a known truth."""

from __future__ import annotations

import numpy as np
import pytest

from mujo_edge.errors import ConfigError
from mujo_edge.firmware_bridge.clock import ArrivalStamper, DriftClock, RateMeter, StreamTimer
from mujo_edge.firmware_bridge.samples import STANDARD_GRAVITY, AccBatch

H0 = 1_700_000_000.0  # host epoch seconds
LATENCY = 0.007  # smallest transport delay: unobservable, part of "truth" for the mapped times


def arrivals(t_last: np.ndarray, drift_ppm: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True host time of device times `t_last`, and their BLE arrival: + latency + exponential jitter + rare
    retransmission delays of 30-100 ms (never earlier than the truth)."""
    rng = np.random.default_rng(seed)
    true = H0 + (1 + drift_ppm * 1e-6) * t_last
    jitter = rng.exponential(0.008, len(t_last))
    late = rng.random(len(t_last)) < 0.05
    jitter[late] += rng.uniform(0.03, 0.1, int(late.sum()))
    return true, true + LATENCY + jitter


@pytest.mark.parametrize("drift_ppm", [-200.0, 0.0, 200.0])
@pytest.mark.parametrize("per_packet", [1, 39])  # one sample per notification, or mujo packets at MTU 247
def test_drift_and_mapping_within_2ms_after_a_minute(drift_ppm: float, per_packet: int) -> None:
    rate = 50.0
    n = int(75 * rate) // per_packet * per_packet
    t_dev = 123.456 + np.arange(n) / rate
    packets = t_dev.reshape(-1, per_packet)
    _, arrive = arrivals(packets[:, -1], drift_ppm, seed=int(drift_ppm) + 1000 + per_packet)
    clock = DriftClock()
    errors = []
    for pkt, h in zip(packets, arrive):
        clock.observe(float(pkt[-1]), float(h))
        mapped = clock.to_host(pkt)
        truth = H0 + (1 + drift_ppm * 1e-6) * pkt + LATENCY
        if pkt[0] - t_dev[0] > 30.0:  # after convergence (39-sample packets: ~40 points)
            errors.append(np.abs(mapped - truth).max())
    assert max(errors) < 0.002, max(errors)
    assert clock.fitted and abs(clock.drift_ppm - drift_ppm) < 20.0, clock.drift_ppm
    assert clock.rebases == 0


def test_least_squares_would_be_biased_but_the_envelope_is_not() -> None:
    """Delays of 30 ms on average: a mean fit is ~30 ms late, the lower envelope ~0."""
    t_dev = np.arange(3000) / 50.0
    rng = np.random.default_rng(3)
    arrive = H0 + t_dev + LATENCY + rng.exponential(0.03, t_dev.size)
    clock = DriftClock()
    for t, h in zip(t_dev, arrive):
        clock.observe(float(t), float(h))
    assert np.mean(arrive - (H0 + t_dev + LATENCY)) > 0.025
    assert abs(float(clock.to_host(t_dev[-1])) - (H0 + t_dev[-1] + LATENCY)) < 0.002


def test_device_clock_restart_rebases_and_keeps_drift() -> None:
    clock = DriftClock()
    t_dev = np.arange(0, 30, 0.1)
    _, arrive = arrivals(t_dev, 150.0, seed=1)
    for t, h in zip(t_dev, arrive):
        assert not clock.observe(float(t), float(h))
    drift = clock.drift_ppm
    assert abs(drift - 150.0) < 30
    # the watch rebooted: its clock starts again at 0 while the host moved on by 5 s
    assert clock.observe(0.0, float(arrive[-1]) + 5.0)
    assert clock.rebases == 1 and clock.drift_ppm == drift
    assert abs(float(clock.to_host(0.0)) - (arrive[-1] + 5.0)) < 1e-9


def test_arrival_stamper_spreads_back_at_nominal_rate_and_never_overlaps() -> None:
    s = ArrivalStamper(50.0)
    np.testing.assert_allclose(s.stamp(3, 10.0), [9.96, 9.98, 10.0])
    # next notification bunched right behind (jitter): spread over (10.0, 10.01] instead of overlapping
    t = s.stamp(3, 10.01)
    assert t[0] > 10.0 and t[-1] == pytest.approx(10.01) and np.all(np.diff(t) > 0)
    t = s.stamp(2, 10.01)  # same arrival again: still increasing
    assert t[0] > 10.01 and np.all(np.diff(t) > 0)
    with pytest.raises(ConfigError):
        ArrivalStamper(0.0)


def test_rate_meter_measures_the_real_rate() -> None:
    m = RateMeter(window_s=10.0)
    assert m.rate_hz is None
    t = np.arange(0, 30, 1 / 9.7)  # "10 Hz" device really at 9.7 Hz
    for chunk in np.array_split(t, 100):
        m.add(chunk)
    assert m.rate_hz == pytest.approx(9.7, rel=1e-3)


def mujo_batches(n_packets: int, per: int = 10, rate: float = 50.0, start: float = 5.0):
    for k in range(n_packets):
        t = start + (k * per + np.arange(per)) / rate
        yield k, AccBatch(t, np.zeros((per, 3)), seq=k, device_rate_hz=rate)


def test_timer_counts_a_device_time_jump_as_missing_samples_exactly() -> None:
    timer = StreamTimer(50.0, device_timestamps=True)
    got = []
    for k, b in mujo_batches(20):
        if k in (7, 8):  # two packets lost on air
            continue
        lost = 2 if k == 9 else 0
        b = AccBatch(b.t_device, b.xyz, seq=k, lost_before=lost, device_rate_hz=50.0)
        got.append(timer.add(b, H0 + float(b.t_device[-1]) + 0.01))
    gaps = [g for g in got if g.missing_samples]
    assert len(gaps) == 1 and gaps[0].missing_samples == 20 and gaps[0].gap_before_s == pytest.approx(20 / 50)
    st = timer.stats()
    assert st.samples == 180 and st.missing_samples == 20 and st.gaps == 1
    assert st.loss_fraction == pytest.approx(20 / 200)
    t = np.concatenate([g.t for g in got])
    assert np.all(np.diff(t) > 0)


def test_timer_uses_sequence_numbers_when_times_cannot_tell() -> None:
    timer = StreamTimer(50.0, device_timestamps=False)
    timer.add(AccBatch(None, np.zeros((3, 3)), seq=0), 100.0)
    out = timer.add(AccBatch(None, np.zeros((3, 3)), seq=3, lost_before=2), 100.2)
    assert out.missing_samples == 6 and timer.stats().gaps == 1


def test_reconnect_gap_with_continuing_device_clock_is_exact() -> None:
    timer = StreamTimer(50.0, device_timestamps=True)
    for _, b in mujo_batches(10):
        timer.add(b, H0 + float(b.t_device[-1]) + 0.005)
    timer.disconnected()
    # 3.1 s later (155 samples produced while disconnected), the device clock continued
    t = 5.0 + (100 + 155 + np.arange(10)) / 50.0
    out = timer.add(AccBatch(t, np.zeros((10, 3)), seq=0, device_rate_hz=50.0), H0 + float(t[-1]) + 0.005)
    assert out.missing_samples == 155


def test_reconnect_gap_without_device_clock_is_estimated_from_host_time() -> None:
    timer = StreamTimer(10.0, device_timestamps=False)
    for k in range(20):  # InfiniTime: 1 sample per notification at ~10 Hz
        timer.add(AccBatch(None, np.zeros((1, 3))), 100.0 + k * 0.1)
    timer.disconnected()
    out = timer.add(AccBatch(None, np.zeros((1, 3))), 100.0 + 1.9 + 2.0)  # 2 s later: 19 samples never arrived
    assert out.missing_samples == 19 and out.gap_before_s == pytest.approx(1.9)
    st = timer.stats()
    assert st.gaps == 1 and st.drift_ppm is None and st.latency_s is None


def test_reconnect_after_device_restart_falls_back_to_host_time() -> None:
    timer = StreamTimer(50.0, device_timestamps=True)
    for _, b in mujo_batches(10, start=500.0):
        timer.add(b, H0 + float(b.t_device[-1]))
    last = timer._last_t
    timer.disconnected()
    t = np.arange(10) / 50.0  # the device clock restarted at 0
    out = timer.add(AccBatch(t, np.zeros((10, 3)), device_rate_hz=50.0), last + 1.0 + 0.18)
    assert timer.clock.rebases == 1
    assert out.missing_samples == 49 and out.t[0] > last  # ~1 s at 50 Hz


def test_stretched_polar_frame_is_retimed_and_counted() -> None:
    timer = StreamTimer(50.0, device_timestamps=True, retime_stretched=True)
    t1 = 10.0 + np.arange(1, 11) / 50.0
    timer.add(AccBatch(t1, np.zeros((10, 3)), device_rate_hz=50.0), H0 + t1[-1])
    # next frame came after one lost frame: the decoder spread 10 samples over 20 periods
    t2 = t1[-1] + 20 / 50.0 * np.arange(1, 11) / 10
    out = timer.add(AccBatch(t2, np.zeros((10, 3)), device_rate_hz=50.0), H0 + t2[-1])
    np.testing.assert_allclose(np.diff(out.t_device), 1 / 50.0)
    assert out.t_device[-1] == t2[-1] and out.missing_samples == 10


def test_saturation_and_stats_snapshot() -> None:
    timer = StreamTimer(50.0, device_timestamps=True, range_g=2)
    xyz = np.zeros((4, 3))
    xyz[1, 2] = 2 * STANDARD_GRAVITY
    xyz[3, 0] = -1.99 * STANDARD_GRAVITY
    timer.add(AccBatch(np.arange(4) / 50.0, xyz, device_rate_hz=50.0), H0)
    st = timer.stats()
    assert st.saturated_samples == 2 and st.samples == 4 and st.loss_fraction == 0.0
    assert timer.add(AccBatch.empty(timestamps=True), H0 + 1).t.size == 0
