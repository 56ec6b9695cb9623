"""`run_live`, `replay` and the `live`/`replay`/`devices` commands on virtual watches and a tiny ONNX bundle."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("bumble")
pytest.importorskip("bleak")
pytest.importorskip("onnxruntime")

from mujo_edge.bundle import Artifact, write_manifest
from mujo_edge.cli.live import devices, live, replay
from mujo_edge.runtime import Recognizer
from mujo_edge.runtime.live import (
    CsvRecorder,
    load_recorded,
    replay_recording,
    replay_summary,
    run_live,
    stream_channels,
)

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fx = _load(TESTS / "core" / "runtime_fixtures.py", "_rtfx_live").load()
bridge = _load(TESTS / "bridge" / "test_client.py", "_client_tests_live")

app = typer.Typer(pretty_exceptions_enable=False)
app.command("live")(live)
app.command("replay")(replay)
app.command("devices")(devices)
runner = CliRunner()
WIDE = {"COLUMNS": "200"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runtime fixtures' linear model as an ONNX-only bundle (no TensorFlow or torch needed)."""
    folder = tmp_path_factory.mktemp("live") / "bundle"
    folder.mkdir()
    fx.build_onnx(folder / "model.onnx")
    art = Artifact(
        "onnx-fp32",
        "onnx",
        "fp32",
        "model.onnx",
        "onnxruntime",
        parity={"top1_agreement": 1.0, "max_abs_logit_diff": 0.0},
    )
    write_manifest(folder, fx.manifest([art]))
    return folder


def _agreement(a: list, b: list) -> float:
    assert [p.start_s for p in a] == [p.start_s for p in b]
    return float(np.mean([p.label == q.label for p, q in zip(a, b)])) if a else float("nan")


@pytest.mark.parametrize("protocol", ["mujo", "metawear"])
def test_run_live_and_replay_of_its_recording_agree(protocol: str, bundle: Path, tmp_path: Path) -> None:
    rec = fx.recording(rate=50.0, seconds=40.0, jitter=0.0, seed=3)
    xyz = np.asarray(rec.x, dtype=np.float64)
    recognizer = Recognizer.from_bundle(bundle, engine="onnxruntime")
    record = tmp_path / f"{protocol}.csv"
    speed = 10.0

    async def main():
        watch = bridge.MiniWatch(protocol, "LiveWatch", "F0:00:00:00:06:01", xyz, speed=speed)
        async with watch:
            client = bridge.WatchClient(
                protocol, name="LiveWatch", reconnect=bridge.FAST, host_clock=bridge.scaled_clock(speed), **bridge.SIM
            )
            async with client:
                stop = asyncio.Event()
                seen: list = []
                consumed = bridge.Arrivals()

                async def stop_when_done() -> None:
                    await watch.done.wait()  # then every sample put on air has gone through run_live
                    await consumed.until(lambda got: sum(len(b) for b in got) >= len(watch.sent))
                    stop.set()

                stopper = asyncio.create_task(stop_when_done())
                summary = await run_live(
                    client,
                    recognizer,
                    record=record,
                    stop=stop,
                    on_prediction=lambda p, lat: seen.append(lat),
                    on_batch=consumed.append,
                )
                await stopper
        return summary, seen

    summary, seen = asyncio.run(asyncio.wait_for(main(), 60))
    assert summary.samples == len(xyz) and summary.gaps == 0 and summary.missing_samples == 0
    assert len(summary.predictions) >= 35 and len(seen) == len(summary.predictions)
    # the recording reads back with the CSV loader: the very timestamps and values that were streamed
    back = load_recorded(record)
    assert back.n_samples == len(xyz) and back.channel_names == stream_channels(recognizer)
    np.testing.assert_array_equal(
        back.x,
        bridge.PROTOCOLS.get(protocol)
        .encoder(bridge.default_settings(bridge.PROTOCOLS.get(protocol)))
        .quantise(xyz)
        .astype(np.float32),
    )
    replayed = replay_recording(recognizer, back)
    assert _agreement(summary.predictions, replayed) == 1.0
    np.testing.assert_allclose(
        [p.probabilities for p in summary.predictions], [p.probabilities for p in replayed], rtol=0, atol=1e-9
    )
    # and they recognise the signal: 8 s blocks of curl / squat / rest
    truth = recognizer.true_labels(rec, recognizer.predict_recording(rec))
    offline = [t for t in truth if t is not None]
    assert len(offline) > 20
    assert summary.latency_percentile(50) is not None and summary.latency_percentile(95) < 5.0
    assert protocol != "mujo" or (record.with_name(record.name + ".device_times.tsv")).is_file()


def test_csv_recorder_flushes_each_batch_and_replay_summary(bundle: Path, tmp_path: Path) -> None:
    path = tmp_path / "rec.csv"
    rec = CsvRecorder(path, ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z"))
    t = 1.7e9 + np.arange(120) / 50.0
    t[60:] += 1.0  # a 1 s gap: 50 samples missing
    xyz = np.random.default_rng(0).normal(size=(120, 3)) + np.array([0.5, -1.0, 9.8])
    rec.write(t[:60], xyz[:60])
    assert len(path.read_text().splitlines()) == 61  # on disk before close: a crash loses nothing
    rec.write(t[60:], xyz[60:], t_device=t[60:] - 1.7e9)
    rec.close()
    back = load_recorded(path)
    np.testing.assert_array_equal(back.t, t)
    np.testing.assert_array_equal(back.x, xyz.astype(np.float32))
    assert rec.device_times_path.read_text().count("\n") == 61
    summary = replay_summary(Recognizer.from_bundle(bundle), back)
    assert summary.gaps == 1 and summary.missing_samples == 50
    assert summary.measured_rate_hz == pytest.approx(50.0)


def test_replay_command_prints_summary_and_json(bundle: Path, tmp_path: Path) -> None:
    rec = fx.recording(rate=50.0, seconds=20.0, seed=4, labelled=False)
    path = tmp_path / "stream.csv"
    recorder = CsvRecorder(path, rec.channel_names)
    recorder.write(rec.t, rec.x.astype(np.float64))
    recorder.close()
    out = tmp_path / "replay.json"
    r = runner.invoke(app, ["replay", str(path), "--bundle", str(bundle), "--json-out", str(out)], env=WIDE)
    assert r.exit_code == 0, r.output
    for text in ("replay", "samples", "latency p50 / p95", "timeline", "biceps curl"):
        assert text in r.output
    data = json.loads(out.read_text())
    assert data["samples"] == rec.n_samples and len(data["predictions"]) >= 17
    assert [p["label"] for p in data["predictions"]] == [
        p.label for p in replay_recording(Recognizer.from_bundle(bundle), load_recorded(path))
    ]


def test_live_rejects_bad_arguments(bundle: Path) -> None:
    r = runner.invoke(app, ["live", "--bundle", str(bundle), "--device", "fitbit"])
    assert r.exit_code != 0 and "fitbit" in str(r.exception)
    r = runner.invoke(app, ["live", "--bundle", str(bundle), "--device", "polar", "--link", "tcp:1:2"])
    assert r.exit_code != 0 and "--link" in str(r.exception)


# --- end to end across processes: live --device emulator over a loopback TCP radio -----------------------------


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


WATCH_PROCESS = textwrap.dedent(
    """
    import asyncio, importlib.util, sys
    import numpy as np
    from mujo_edge.firmware_bridge.sim import TcpSimLink

    spec = importlib.util.spec_from_file_location("mini", sys.argv[2])
    mini = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mini)
    fx = mini  # noqa

    async def main(port):
        spec2 = importlib.util.spec_from_file_location("fx", sys.argv[3])
        fxm = importlib.util.module_from_spec(spec2)
        spec2.loader.exec_module(fxm)
        xyz = np.asarray(fxm.recording(rate=50.0, seconds=600.0, jitter=0.0, seed=5).x, dtype=np.float64)
        watch = mini.MiniWatch("mujo", "EmuWatch", "F0:00:00:00:07:01", xyz, speed=1.0)
        watch.peripheral = mini.VirtualPeripheral("EmuWatch", "F0:00:00:00:07:01", [watch._service()],
                                                  link=TcpSimLink(port))
        async with watch:
            print("advertising", flush=True)  # the fixture waits for this line before anyone scans
            await asyncio.sleep(float(sys.argv[4]))  # the process's lifetime cap (the fixture kills it sooner)

    asyncio.run(main(int(sys.argv[1])))
    """
)


@pytest.fixture
def tcp_radio(tmp_path: Path):
    """Two linked controllers (bumble.apps.controllers) and a virtual mujo watch process on the second one."""
    from mujo_edge.firmware_bridge.sim import controllers_command

    central, peripheral = _free_ports(2)
    radio = subprocess.Popen(
        controllers_command(central, peripheral), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    script = tmp_path / "watch.py"
    script.write_text(WATCH_PROCESS)
    bridge.waiting.wait_listening(radio, (central, peripheral))
    watch = subprocess.Popen(
        [
            sys.executable,
            str(script),
            str(peripheral),
            str(TESTS / "bridge" / "test_client.py"),
            str(TESTS / "core" / "runtime_fixtures.py"),
            "30",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # a scan started before the watch process has imported bumble and begun advertising finds nothing
    if watch.stdout is None or watch.stdout.readline().strip() != "advertising":
        radio.kill()
        watch.kill()
        pytest.fail(f"the watch process did not start: {watch.stderr.read()[-500:] if watch.stderr else ''}")
    try:
        yield central
    finally:
        for p in (watch, radio):
            p.kill()
            p.wait(5)


def test_cli_live_emulator_end_to_end_over_tcp(bundle: Path, tcp_radio: int, tmp_path: Path) -> None:
    record, out = tmp_path / "live.csv", tmp_path / "live.json"
    found = runner.invoke(app, ["devices", "--timeout", "1.5", "--link", f"tcp:127.0.0.1:{tcp_radio}"], env=WIDE)
    assert found.exit_code == 0, found.output
    assert "EmuWatch" in found.output and "mujo" in found.output
    # a fresh controller connection per command: the devices scan closed its own
    r = runner.invoke(
        app,
        [
            "live",
            "--device",
            "emulator",
            "--name",
            "EmuWatch",
            "--bundle",
            str(bundle),
            "--link",
            f"tcp:127.0.0.1:{tcp_radio}",
            "--duration",
            "4",
            "--record",
            str(record),
            "--json-out",
            str(out),
        ],
        env=WIDE,
    )
    assert r.exit_code == 0, r.output + repr(r.exception)
    for text in ("live: onnx-fp32", "samples", "gaps", "latency p50 / p95", "recorded to"):
        assert text in r.output
    data = json.loads(out.read_text())
    assert data["samples"] >= 100 and data["missing_samples"] == 0 and data["protocol"] == "mujo"
    assert data["measured_rate_hz"] == pytest.approx(50.0, rel=0.1)
    assert len(data["predictions"]) >= 1
    back = load_recorded(record)
    assert back.n_samples == data["samples"]
    replayed = replay_recording(Recognizer.from_bundle(bundle), back)
    assert [p.label for p in replayed] == [p["label"] for p in data["predictions"]]


# --- the emulator's must-show checks on real SPAR-watch data (slow) -------------------------------------------

PROTOCOLS_ALL = ("mujo", "polar", "infinitime", "banglejs", "metawear")
E2E_SPEED = 20.0


@pytest.fixture(scope="module")
def spar_minute(shared_data: Path):
    """60 s of real SPAR-watch wrist acceleration: consecutive recordings of one subject joined at 50 Hz."""
    from mujo_edge.channels import ChannelSelection
    from mujo_edge.data.prepare import load_recordings
    from mujo_edge.data.registry import get_loader
    from mujo_edge.recording import Recording

    recs = load_recordings(
        get_loader("spar_watch"), shared_data / "spar_watch", ChannelSelection(placements=("wrist",), sensors=("acc",))
    )
    subject = recs[0].subject
    parts = [r for r in recs if r.subject == subject]
    xs, n = [], 0
    for r in parts:
        xs.append(r.x)
        n += r.n_samples
        if n >= 3000:
            break
    x = np.concatenate(xs)[:3000]
    return Recording.create(
        1000.0 + np.arange(len(x)) / 50.0, x, parts[0].channels, subject=subject, source="spar_watch-60s"
    )


async def _stream_emulated(protocol: str, rec, recognizer, record: Path, address: str, **watch_kw):
    from mujo_edge.firmware_bridge.emulator import watch_from_recording

    watch = watch_from_recording(protocol, rec, speed=E2E_SPEED, address=address, **watch_kw)
    async with watch:
        restarted = asyncio.Event()  # the client (re)started its stream or lost the link
        client = bridge.WatchClient(
            protocol,
            address=address,
            reconnect=bridge.FAST,
            host_clock=bridge.scaled_clock(E2E_SPEED),
            on_streaming=lambda _: restarted.set(),
            **bridge.SIM,
        )
        async with client:
            stop = asyncio.Event()
            consumed = bridge.Arrivals()

            async def stop_when_done() -> None:
                try:
                    await watch.finished.wait()  # then every sample put on air has gone through run_live
                    await consumed.until(lambda got: sum(len(b) for b in got) >= len(watch.delivered))
                    # The recording can end while the host is still reconnecting after the last link drop
                    # (Bangle.js: the app upload's 1 s reset pause is 20 s of stream at E2E_SPEED): let it finish.
                    await bridge.waiting.wait_until(
                        lambda: client.stats.reconnects >= watch.stats.link_drops,
                        restarted,
                        timeout=10,
                        what=f"a reconnect after each of the watch's {watch.stats.link_drops} link drops",
                    )
                finally:
                    stop.set()  # a failed wait ends run_live too: `await stopper` then raises its error

            stopper = asyncio.create_task(stop_when_done())
            summary = await run_live(client, recognizer, record=record, stop=stop, on_batch=consumed.append)
            await stopper
    return watch, summary


@pytest.mark.slow
@pytest.mark.parametrize("protocol", PROTOCOLS_ALL)
def test_emulated_spar_minute_live_equals_replay_and_nothing_lost(
    protocol: str, spar_minute, bundle: Path, tmp_path: Path
) -> None:
    recognizer = Recognizer.from_bundle(bundle, engine="onnxruntime")
    record = tmp_path / f"{protocol}.csv"
    watch, summary = asyncio.run(
        asyncio.wait_for(_stream_emulated(protocol, spar_minute, recognizer, record, "F0:00:00:00:08:01"), 90)
    )
    assert len(watch.lost) == 0 and summary.missing_samples == 0 and summary.gaps == 0
    assert summary.samples == len(watch.delivered) > 0
    replayed = replay_recording(recognizer, load_recorded(record))
    assert len(summary.predictions) >= (5 if protocol == "infinitime" else 50)
    assert _agreement(summary.predictions, replayed) >= 0.99


@pytest.mark.slow
@pytest.mark.parametrize("protocol", PROTOCOLS_ALL)
def test_emulated_forced_disconnects_every_sample_delivered_or_counted(
    protocol: str, spar_minute, bundle: Path, tmp_path: Path
) -> None:
    from mujo_edge.firmware_bridge.emulator import WatchFaults

    recognizer = Recognizer.from_bundle(bundle, engine="onnxruntime")
    faults = WatchFaults(drop_link_at_s=(15.0, 40.0), reconnect_after_s=2.0)
    watch, summary = asyncio.run(
        asyncio.wait_for(
            _stream_emulated(protocol, spar_minute, recognizer, tmp_path / "d.csv", "F0:00:00:00:09:01", faults=faults),
            90,
        )
    )
    assert summary.reconnects == 2 and summary.samples == len(watch.delivered)
    # samples lost after the last delivered one (the recording ended while reconnecting) no host can count
    first, last = watch.delivered.t_stream[0], watch.delivered.t_stream[-1]
    lost = watch.lost.t_stream
    truth = len(watch.delivered) + int(np.sum((lost > first) & (lost < last)))
    counted = summary.samples + summary.missing_samples
    assert summary.missing_samples > 0
    if protocol == "infinitime":  # notifies only changed values: unchanged polls are neither sent nor lost
        assert counted >= truth * 0.9, (counted, truth)
    elif bridge.PROTOCOLS.get(protocol).has_device_timestamps and protocol != "banglejs":
        assert counted == truth, (counted, truth)
    else:  # no device clock across the reconnect (Bangle.js restarts its app): host time at the nominal rate
        assert abs(counted - truth) <= max(5, 0.02 * truth), (counted, truth)


@pytest.mark.slow
def test_emulated_two_watches_never_mixed(spar_minute, bundle: Path) -> None:
    from mujo_edge.firmware_bridge.emulator import watch_from_recording

    other = spar_minute.x[::-1].copy()

    async def main():
        from mujo_edge.recording import Recording

        rec_b = Recording.create(spar_minute.t, other, spar_minute.channels, subject="b", source="reversed")
        a = watch_from_recording("polar", spar_minute, speed=E2E_SPEED, address="F0:00:00:00:0A:01", name="A")
        b = watch_from_recording("mujo", rec_b, speed=E2E_SPEED, address="F0:00:00:00:0A:02", name="B")
        got: dict[str, list] = {"A": bridge.Arrivals(), "B": bridge.Arrivals()}
        async with a, b:
            clients = [
                bridge.WatchClient(
                    p, address=w.address, reconnect=bridge.FAST, host_clock=bridge.scaled_clock(E2E_SPEED), **bridge.SIM
                )
                for p, w in (("polar", a), ("mujo", b))
            ]
            async with bridge.MultiWatch(clients) as both:

                async def consume() -> None:
                    async for batch in both.samples():
                        got[batch.device.name].append(batch)

                task = asyncio.create_task(consume())
                await a.finished.wait()
                await b.finished.wait()
                for name, watch in (("A", a), ("B", b)):  # every sample put on air has arrived
                    await got[name].until(lambda g, w=watch: sum(len(x) for x in g) >= len(w.delivered))
                task.cancel()
        return a, b, got

    a, b, got = asyncio.run(asyncio.wait_for(main(), 60))
    np.testing.assert_array_equal(np.concatenate([x.xyz for x in got["A"]]), a.delivered.xyz)
    np.testing.assert_array_equal(np.concatenate([x.xyz for x in got["B"]]), b.delivered.xyz)
