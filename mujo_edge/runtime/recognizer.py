"""`Recognizer`: a model bundle on a device engine, fed exactly as the model was trained.

Input is raw SI samples; the recognizer applies the bundle's own window config (through the same
`mujo_edge.resample`/`mujo_edge.windows` code training used) and its saved normaliser, runs the engine and
returns `Prediction`s. `Recognizer.stream()` does the same sample by sample for live data.

Torch-free: LiteRT and ONNX Runtime artifacts run without torch; only an ExecuTorch artifact needs it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mujo_edge.bundle import (
    Artifact,
    ArtifactStatus,
    Bundle,
    BundleError,
    EngineName,
    Manifest,
    Precision,
    read_bundle,
)
from mujo_edge.channels import channel_indices
from mujo_edge.errors import ConfigError, SampleError
from mujo_edge.recording import UNLABELLED, Recording
from mujo_edge.runtime.engines import ENGINES, Engine, EngineUnavailableError, check_model_io
from mujo_edge.runtime.prediction import Prediction, softmax
from mujo_edge.runtime.stream import StreamWindow, StreamWindower
from mujo_edge.smoothing import Smoother
from mujo_edge.windows import window_recording

log = logging.getLogger(__name__)

# Automatic choice: int8 before fp32 (4x smaller, faster), then this engine order; artifacts that passed
# parity before those that did not.
ENGINE_PREFERENCE = (EngineName.LITERT, EngineName.EXECUTORCH, EngineName.ONNXRUNTIME)
PRECISION_PREFERENCE = (Precision.INT8, Precision.FP16, Precision.FP32)


def _rank(order: Sequence[str], value: str) -> int:
    return order.index(value) if value in order else len(order)


def candidate_artifacts(manifest: Manifest, engine: str | None = None, artifact: str | None = None) -> list[Artifact]:
    """Artifacts to try, best first: the named one; else `engine`'s usable ones; else all usable ones."""
    if artifact is not None:
        chosen = manifest.artifact(artifact)
        if engine is not None and chosen.engine != engine:
            raise ConfigError(f"artifact {artifact!r} runs on {chosen.engine.value!r}, not {engine!r}", field="engine")
        if chosen.status == ArtifactStatus.EXPORT_FAILED or chosen.file is None:
            raise BundleError(
                f"artifact {artifact!r} failed to export and has no model file"
                + (f" ({chosen.notes})" if chosen.notes else ""),
                field=f"artifacts.{artifact}.status",
            )
        return [chosen]
    if engine is not None:
        ENGINES.get(engine)  # UnknownNameError listing the known engines
    usable = [a for a in manifest.artifacts if a.usable and (engine is None or a.engine == engine)]
    if not usable:
        have = ", ".join(f"{a.name} ({a.engine}, {a.status})" for a in manifest.artifacts) or "none"
        raise BundleError(
            f"no usable artifact{f' for engine {engine!r}' if engine else ''}; the bundle has: {have}",
            field="artifacts",
        )
    return sorted(
        usable,
        key=lambda a: (
            a.status != ArtifactStatus.PASS,
            _rank(PRECISION_PREFERENCE, a.precision),
            _rank(ENGINE_PREFERENCE, a.engine),
        ),
    )


def _load_first(bundle: Bundle, candidates: list[Artifact], threads: int, explicit: bool) -> tuple[Artifact, Engine]:
    """Load the first candidate whose engine imports here; in explicit mode its failure is the error."""
    missing: list[EngineUnavailableError] = []
    for a in candidates:
        spec = ENGINES.get(a.engine)
        if not explicit and not spec.available():
            log.info("skipping %s: engine %s is not installed", a.name, a.engine)
            missing.append(EngineUnavailableError(a.engine, spec.install))
            continue
        try:
            engine = spec.load(bundle.path_of(a), a, threads)
        except EngineUnavailableError as e:
            if explicit:
                raise
            missing.append(e)
            continue
        # a model that disagrees with its manifest is a broken bundle, not a reason to try the next artifact
        check_model_io(engine, a, bundle.manifest, bundle.shown(str(a.file)))
        return a, engine
    engines = sorted({e.engine for e in missing})
    raise EngineUnavailableError(
        ", ".join(engines),
        "; ".join(sorted({e.install for e in missing})),
        f"no engine for the artifacts {[a.name for a in candidates]} imports here",
    )


def check_models(bundle: Bundle, threads: int = 1) -> dict[str, bool]:
    """Load every usable artifact whose engine is installed here and check its real input and output shapes
    against the manifest (BundleError on the first that disagrees). Returns artifact name -> checked
    (False: its engine is not installed, so only its size and sha256 were verified)."""
    checked = {}
    for a in bundle.usable:
        spec = ENGINES.get(a.engine)
        checked[a.name] = spec.available()
        if checked[a.name]:
            check_model_io(spec.load(bundle.path_of(a), a, threads), a, bundle.manifest, bundle.shown(str(a.file)))
    return checked


class Recognizer:
    """A classifier bundle loaded on one engine. Build it with `Recognizer.from_bundle`; `close()` it (or use
    it as a context manager) to remove the folder a zipped bundle was unpacked into at once, rather than when
    the recognizer is garbage-collected or the process exits."""

    def __init__(
        self, bundle: Bundle, artifact: Artifact, engine: Engine, smoothing: int = 1, *, owns_bundle: bool = False
    ) -> None:
        manifest = bundle.manifest
        if manifest.kind != "classifier":
            raise BundleError(
                f"the bundle holds a {manifest.kind!r}, the recognizer needs a classifier",
                path=bundle.source,
                field="kind",
            )
        if not manifest.labels:
            raise BundleError("the bundle has no labels", path=bundle.source, field="labels")
        Smoother(smoothing, 1.0)  # validates smoothing >= 1 before anything runs
        self.bundle = bundle
        self.artifact = artifact
        self.engine = engine
        self.smoothing = smoothing
        self._owns_bundle = owns_bundle  # opened by from_bundle from a path: close() closes it

    def close(self) -> None:
        """Remove what opening the bundle unpacked (nothing for a folder bundle, or a Bundle passed in, which
        its caller closes). Predict nothing after this."""
        if self._owns_bundle:
            self.bundle.close()

    def __enter__(self) -> Recognizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def from_bundle(
        cls,
        path: str | Path | Bundle,
        engine: str | None = None,
        artifact: str | None = None,
        threads: int = 1,
        smoothing: int = 1,
    ) -> Recognizer:
        """Open (and verify) a bundle folder or .zip and load its best usable artifact.

        `artifact` names one artifact; else `engine` restricts to that engine's artifacts; else the first
        that loads of: int8 before fp32, LiteRT before ExecuTorch before ONNX Runtime, passed parity first
        (engines whose Python module does not import here are skipped). An artifact whose export failed
        is refused; one exported but failing parity is used with a warning.
        """
        owns = not isinstance(path, Bundle)
        bundle = path if isinstance(path, Bundle) else read_bundle(path)
        try:
            candidates = candidate_artifacts(bundle.manifest, engine, artifact)
            explicit = artifact is not None or engine is not None
            chosen, loaded = _load_first(bundle, candidates, threads, explicit)
            recognizer = cls(bundle, chosen, loaded, smoothing, owns_bundle=owns)
        except BaseException:
            if owns:
                bundle.close()
            raise
        if chosen.status != ArtifactStatus.PASS:
            log.warning(
                "artifact %s is %s at export (parity %s): predictions may differ from the trained model",
                chosen.name,
                chosen.status,
                dict(chosen.parity),
            )
        log.info("loaded %s on %s", chosen.name, chosen.engine)
        return recognizer

    # --- what the model expects ------------------------------------------------------------------------
    @property
    def manifest(self) -> Manifest:
        return self.bundle.manifest

    @property
    def labels(self) -> tuple[str, ...]:
        return self.manifest.labels

    @property
    def channels(self) -> tuple[str, ...]:
        return self.manifest.channels

    # --- windows ---------------------------------------------------------------------------------------
    def _check_windows(self, x_raw: np.ndarray, channels: Sequence[str] | None) -> np.ndarray:
        x = np.asarray(x_raw, dtype=np.float32)
        want_c, want_l = self.manifest.input_shape
        if x.ndim != 3:
            raise ConfigError(f"windows must be [windows, channels, samples], got shape {x.shape}", field="x")
        if channels is not None:
            channels = tuple(channels)
            if len(channels) != x.shape[1]:
                raise ConfigError(f"{len(channels)} channel names for {x.shape[1]} channels", field="channels")
            missing = [c for c in self.channels if c not in channels]
            if missing:
                raise ConfigError(
                    f"the input lacks {missing}: expected {list(self.channels)}, got {list(channels)}", field="channels"
                )
            x = x[:, channel_indices(channels, self.channels)]
        elif x.shape[1] != want_c:
            raise ConfigError(f"expected {want_c} channels {list(self.channels)}, got {x.shape[1]}", field="channels")
        if x.shape[2] != want_l:
            raise ConfigError(
                f"expected windows of {want_l} samples ({self.manifest.window.window_s:g} s at "
                f"{self.manifest.window.rate_hz:g} Hz), got {x.shape[2]}",
                field="window.length",
            )
        bad = ~np.isfinite(x).all(axis=(1, 2))
        if bad.any():
            raise SampleError(
                f"window {int(np.flatnonzero(bad)[0])} holds non-finite values ({int(bad.sum())} such windows)",
                field="x",
            )
        return x

    def logits(self, x_raw: np.ndarray, channels: Sequence[str] | None = None) -> tuple[np.ndarray, float]:
        """Logits float32 [W, K] of raw SI windows [W, C, L], and the engine's wall time in seconds."""
        x = self._check_windows(x_raw, channels)
        k = len(self.labels)
        if x.shape[0] == 0:
            return np.zeros((0, k), np.float32), 0.0
        z = self.manifest.normaliser.apply(x)
        t0 = time.perf_counter()
        out = self.engine.run(z)
        elapsed = time.perf_counter() - t0
        if out.shape != (x.shape[0], k):
            raise BundleError(
                f"the model returned logits of shape {out.shape}, the manifest has {k} labels",
                path=self.bundle.source,
                field=f"artifacts.{self.artifact.name}",
            )
        return out, elapsed

    def predict_windows(
        self, x_raw: np.ndarray, channels: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Label indices int64 [W] and probabilities float64 [W, K] of raw SI windows float32 [W, C, L].

        `channels`, when given, names the input's channels; they are then picked and ordered by name,
        so the input may hold more channels than the model. Without it the input must already be in the
        bundle's channel order.
        """
        logits, _ = self.logits(x_raw, channels)
        return logits.argmax(axis=1).astype(np.int64), softmax(logits)

    def _predictions(
        self, logits: np.ndarray, starts: Sequence[float] | np.ndarray, seconds: float, smoother: Smoother
    ) -> list[Prediction]:
        probs = softmax(logits)
        latency = seconds / max(len(starts), 1)
        window_s = self.manifest.window.window_s
        out = []
        for row, p, start in zip(logits, probs, starts):
            i = int(row.argmax())
            s = smoother.update(i, float(start))
            out.append(
                Prediction(
                    label=self.labels[i],
                    index=i,
                    probabilities=tuple(float(v) for v in p),
                    logits=tuple(float(v) for v in row),
                    start_s=float(start),
                    end_s=float(start) + window_s,
                    latency_s=latency,
                    smoothed_label=self.labels[s],
                    smoothed_index=s,
                )
            )
        return out

    def _smoother(self) -> Smoother:
        w = self.manifest.window
        return Smoother(self.smoothing, w.step / w.rate_hz)

    # --- recordings ------------------------------------------------------------------------------------
    def fit_recording(self, recording: Recording, keep_labels: bool = False) -> Recording:
        """The recording with the bundle's channels, by name and in the bundle's order (labels dropped unless
        `keep_labels`). ConfigError when a channel is missing, its unit differs, or the rate is too low."""
        names = recording.channel_names
        missing = [c for c in self.channels if c not in names]
        if missing:
            raise ConfigError(
                f"{recording.source}: the model needs channels {list(self.channels)}; the recording "
                f"lacks {missing} (has {list(names)})",
                field="channels",
            )
        fitted = recording.with_channels(self.channels)
        for channel, unit in zip(fitted.channels, self.manifest.units):
            if channel.unit != unit:
                raise ConfigError(
                    f"{recording.source}: channel {channel.name} is in {channel.unit}, the model expects {unit}",
                    field="units",
                )
        rate = recording.native_rate_hz()
        w = self.manifest.window
        if np.isfinite(rate) and 1.0 / rate > w.max_gap_s:
            raise ConfigError(
                f"{recording.source}: samples arrive at {rate:.3g} Hz, {1 / rate:.3g} s apart, more than "
                f"the bundle's max_gap_s {w.max_gap_s:g} s: every interval would be a gap; the model "
                f"needs at least {1 / w.max_gap_s:.3g} Hz (it runs at {w.rate_hz:g} Hz)",
                field="sample_rate_hz",
            )
        labels = recording.labels if keep_labels else np.full(recording.n_samples, UNLABELLED, np.int16)
        return Recording(
            t=recording.t,
            x=fitted.x,
            channels=fitted.channels,
            subject=recording.subject,
            classes=recording.classes,
            labels=labels,
            source=recording.source,
            recording_id=recording.recording_id,
            valid=recording.valid,
            meta=recording.meta,
        )

    def predict_recording(self, recording: Recording) -> list[Prediction]:
        """One Prediction per window of `recording` (raw samples, SI units, any rate), in time order.

        Windows are cut by `window_recording` with the bundle's WindowConfig, exactly as in training,
        except that labels are ignored: every window clear of gaps is predicted, mixed-activity ones too.
        """
        windows = window_recording(self.fit_recording(recording), self.manifest.window)
        if len(windows) == 0:
            log.warning(
                "%s: no complete window without a gap (%.1f s of samples)", recording.source, recording.duration_s
            )
            return []
        logits, seconds = self.logits(windows.x)
        return self._predictions(logits, windows.start, seconds, self._smoother())

    def true_labels(self, recording: Recording, predictions: Sequence[Prediction]) -> list[str | None]:
        """The training label of each predicted window (None: no label, or a window training drops as mixed).

        Windows are labelled by `window_recording` with the bundle's config (majority covering
        min_purity), the definition training and evaluation use.
        """
        if not recording.classes:
            return [None] * len(predictions)
        labelled = window_recording(self.fit_recording(recording, keep_labels=True), self.manifest.window)
        by_start = {float(s): int(y) for s, y in zip(labelled.start, labelled.y)}
        out: list[str | None] = []
        for p in predictions:
            y = by_start.get(p.start_s, UNLABELLED)
            out.append(None if y == UNLABELLED else recording.classes[y])
        return out

    # --- live ------------------------------------------------------------------------------------------
    def stream(self, channels: Sequence[str] | None = None) -> StreamingRecognizer:
        """A streaming front end: push samples as they arrive, get a Prediction per completed window.

        `channels` names the columns of the samples to be pushed (default: the bundle's channels in order);
        the bundle's channels are picked from them by name.
        """
        return StreamingRecognizer(self, channels)


class StreamingRecognizer:
    """Live recognition: `push(t [N] s, x [N, C] SI)` -> Predictions of the windows those samples complete.

    Windows are resampled and cut by `StreamWindower`, so pushing a recording in any chunk sizes gives the
    same windows (start times and values) as `Recognizer.predict_recording` on the whole recording.
    """

    def __init__(self, recognizer: Recognizer, channels: Sequence[str] | None = None) -> None:
        self.recognizer = recognizer
        names = tuple(channels) if channels is not None else recognizer.channels
        missing = [c for c in recognizer.channels if c not in names]
        if missing:
            raise ConfigError(
                f"the stream lacks {missing}: the model needs {list(recognizer.channels)}, the "
                f"stream has {list(names)}",
                field="channels",
            )
        self.input_channels = names
        self._index = channel_indices(names, recognizer.channels)
        self.windower = StreamWindower(recognizer.manifest.window, recognizer.channels)
        self._smoother = recognizer._smoother()

    def push(self, t: np.ndarray | Sequence[float], x: np.ndarray) -> list[Prediction]:
        """Add samples (t [N] seconds, strictly increasing; x [N, C] SI units in `input_channels` order)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != len(self.input_channels):
            raise SampleError(
                f"samples have shape {x.shape}, expected (N, {len(self.input_channels)}) for "
                f"{list(self.input_channels)}",
                field="x",
            )
        return self._predict(self.windower.push(t, x[:, self._index]))

    def flush(self) -> list[Prediction]:
        """End the stream (see `StreamWindower.flush`); `reset()` before pushing again."""
        return self._predict(self.windower.flush())

    def reset(self) -> None:
        """Start a new stream: new grid origin, empty smoothing history."""
        self.windower.reset()
        self._smoother.reset()

    def _predict(self, windows: list[StreamWindow]) -> list[Prediction]:
        if not windows:
            return []
        logits, seconds = self.recognizer.logits(np.stack([w.x for w in windows]))
        return self.recognizer._predictions(logits, [w.start_s for w in windows], seconds, self._smoother)
